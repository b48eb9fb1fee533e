// Passkeys (WebAuthn): signing in, confirming a sensitive action and adding a passkey. The
// server makes the options and checks the answers (portal.security.passkeys); this only
// converts between JSON and the browser's binary buffers. Pages work without it otherwise.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBuffers(options) {
    options.challenge = toBuffer(options.challenge);
    if (options.user) options.user.id = toBuffer(options.user.id);
    ["excludeCredentials", "allowCredentials"].forEach(function (key) {
      (options[key] || []).forEach(function (descriptor) {
        descriptor.id = toBuffer(descriptor.id);
      });
    });
    return options;
  }

  function asJSON(credential) {
    var response = credential.response;
    var answer = { clientDataJSON: toText(response.clientDataJSON) };
    if (response.attestationObject) {
      answer.attestationObject = toText(response.attestationObject);
      answer.transports = response.getTransports ? response.getTransports() : [];
    } else {
      answer.authenticatorData = toText(response.authenticatorData);
      answer.signature = toText(response.signature);
      if (response.userHandle) answer.userHandle = toText(response.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: answer,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
    });
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"];
    } catch (error) {
      return "";
    }
  }

  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrftoken": csrfToken() },
      body: new URLSearchParams(fields || {}),
    }).then(function (response) {
      return response.json().then(function (body) {
        if (body.confirm) window.location.assign(body.confirm);
        if (!response.ok) throw new Error(body.error || "");
        return body;
      });
    });
  }

  // One ceremony: options from `url`/options, the browser's answer posted to `url`.
  function ceremony(container, url, create, fields) {
    var message = container.querySelector("[data-passkey-error]");
    var button = container.querySelector("button");
    message.textContent = "";
    message.hidden = true;
    button.disabled = true;
    return post(url + "/options")
      .then(function (options) {
        var publicKey = withBuffers(options);
        return create
          ? navigator.credentials.create({ publicKey: publicKey })
          : navigator.credentials.get({ publicKey: publicKey });
      })
      .then(function (credential) {
        return post(url, Object.assign({ credential: asJSON(credential) }, fields()));
      })
      .then(function (body) {
        if (body.redirect) window.location.assign(body.redirect);
      })
      .catch(function (error) {
        var text = error && error.name === "NotAllowedError" ? "" : error && error.message;
        message.textContent = text || container.getAttribute("data-cancelled") || "";
        message.hidden = false;
        button.disabled = false;
      });
  }

  function wire(selector, create, fields) {
    document.querySelectorAll(selector).forEach(function (container) {
      var url = container.getAttribute(selector.slice(1, -1));
      container.hidden = false;
      container.querySelector("button").addEventListener("click", function () {
        ceremony(container, url, create, function () {
          return fields(container);
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    function next(container) {
      return { next: container.getAttribute("data-next") || "" };
    }
    wire("[data-passkey-sign-in]", false, next);
    wire("[data-passkey-confirm]", false, next);
    wire("[data-passkey-add]", true, function (container) {
      return { name: container.querySelector("input").value };
    });
  });
})();
