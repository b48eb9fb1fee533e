"""Writes portal/locale/{de,es}/LC_MESSAGES/messages.po from the table below.

Why a table: besides the strings `pybabel extract -F babel.cfg` finds in templates and code,
the client area translates messages that services build from field labels ("City is required.");
those are generated here from the label translations, so no message is missed. Run it after
changing a string: `python scripts/translations.py`.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

LOCALE_DIR = Path(__file__).resolve().parents[1] / "portal" / "locale"

# Field labels as the guide names them, and how the client area names them.
LABELS = {
    "First Name": ("Vorname", "Nombre"),
    "Last Name": ("Nachname", "Apellidos"),
    "Company/Org.": ("Firma/Organisation", "Empresa/Organización"),
    "Title": ("Titel", "Cargo"),
    "Address 1": ("Adresse 1", "Dirección 1"),
    "Address 2": ("Adresse 2", "Dirección 2"),
    "City": ("Ort", "Ciudad"),
    "Country": ("Land", "País"),
    "State/Province": ("Bundesland/Provinz", "Estado/Provincia"),
    "Zip/Postal Code": ("Postleitzahl", "Código postal"),
    "Email": ("E-Mail", "Correo electrónico"),
    "Phone": ("Telefon", "Teléfono"),
    "Fax": ("Fax", "Fax"),
    "Home": ("Privat", "Casa"),
    "Work": ("Arbeit", "Trabajo"),
    "Tax ID/VATIN": ("Steuernummer/USt-IdNr.", "NIF/IVA"),
}
LENGTHS = {
    "First Name": 100,
    "Last Name": 100,
    "Company/Org.": 255,
    "Title": 100,
    "Address 1": 255,
    "Address 2": 255,
    "City": 100,
    "Zip/Postal Code": 20,
    "Tax ID/VATIN": 64,
}

MESSAGES: dict[str, tuple[str, str]] = {
    # pages
    "Client area": ("Kundenbereich", "Área de clientes"),
    "Skip to main content": ("Zum Hauptinhalt springen", "Saltar al contenido principal"),
    "Main": ("Hauptmenü", "Menú principal"),
    "Language": ("Sprache", "Idioma"),
    "Dashboard": ("Übersicht", "Panel"),
    "My details": ("Meine Daten", "Mis datos"),
    "Change password": ("Passwort ändern", "Cambiar contraseña"),
    "Log out": ("Abmelden", "Cerrar sesión"),
    "Log in": ("Anmelden", "Iniciar sesión"),
    "Log in to your account": ("Bei Ihrem Konto anmelden", "Inicie sesión en su cuenta"),
    "Username or email": ("Benutzername oder E-Mail", "Usuario o correo electrónico"),
    "Password": ("Passwort", "Contraseña"),
    "Forgot password?": ("Passwort vergessen?", "¿Olvidó su contraseña?"),
    "Forgot username?": ("Benutzername vergessen?", "¿Olvidó su usuario?"),
    "Forgot password": ("Passwort vergessen", "Contraseña olvidada"),
    "Forgot username": ("Benutzername vergessen", "Usuario olvidado"),
    "Enter your username or email. If an account exists, we send it a link to choose a new password.": (
        "Geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein. Wenn ein Konto existiert, senden wir ihm einen Link, mit dem Sie ein neues Passwort wählen.",
        "Introduzca su usuario o correo electrónico. Si existe una cuenta, le enviaremos un enlace para elegir una contraseña nueva.",
    ),
    "Enter your email. If an account exists, we send it your username.": (
        "Geben Sie Ihre E-Mail-Adresse ein. Wenn ein Konto existiert, senden wir ihm Ihren Benutzernamen.",
        "Introduzca su correo electrónico. Si existe una cuenta, le enviaremos su usuario.",
    ),
    "Send the link": ("Link senden", "Enviar el enlace"),
    "Send my username": ("Benutzernamen senden", "Enviar mi usuario"),
    "Back to log in": ("Zurück zur Anmeldung", "Volver a iniciar sesión"),
    "Continue": ("Weiter", "Continuar"),
    "Current password": ("Aktuelles Passwort", "Contraseña actual"),
    "New password": ("Neues Passwort", "Contraseña nueva"),
    "Choose a new password": ("Neues Passwort wählen", "Elija una contraseña nueva"),
    "Set the new password": ("Neues Passwort speichern", "Guardar la contraseña nueva"),
    "At least 8 characters; very common passwords are refused.": (
        "Mindestens 8 Zeichen; sehr häufige Passwörter werden abgelehnt.",
        "Al menos 8 caracteres; no se aceptan contraseñas muy comunes.",
    ),
    "At least 8 characters; very common passwords are refused. Your other sessions will be logged out.": (
        "Mindestens 8 Zeichen; sehr häufige Passwörter werden abgelehnt. Ihre anderen Sitzungen werden abgemeldet.",
        "Al menos 8 caracteres; no se aceptan contraseñas muy comunes. Sus otras sesiones se cerrarán.",
    ),
    "Welcome, %(name)s": ("Willkommen, %(name)s", "Bienvenido, %(name)s"),
    "Your account": ("Ihr Konto", "Su cuenta"),
    "Amounts due": ("Offene Beträge", "Importes pendientes"),
    "Currency": ("Währung", "Moneda"),
    "Due": ("Fällig", "Pendiente"),
    "Credit": ("Guthaben", "Saldo a favor"),
    "Nothing is due.": ("Es ist nichts offen.", "No hay nada pendiente."),
    "Recent invoices": ("Letzte Rechnungen", "Facturas recientes"),
    "Invoice": ("Rechnung", "Factura"),
    "Date": ("Datum", "Fecha"),
    "Due date": ("Fälligkeitsdatum", "Vencimiento"),
    "Status": ("Status", "Estado"),
    "Total": ("Summe", "Total"),
    "No invoices yet.": ("Noch keine Rechnungen.", "Todavía no hay facturas."),
    "Services": ("Dienste", "Servicios"),
    "Service": ("Dienst", "Servicio"),
    "Renewal date": ("Verlängerung am", "Renovación"),
    "Price": ("Preis", "Precio"),
    "No services yet.": ("Noch keine Dienste.", "Todavía no hay servicios."),
    "Draft": ("Entwurf", "Borrador"),
    "Open": ("Offen", "Abierta"),
    "Paid": ("Bezahlt", "Pagada"),
    "Void": ("Storniert", "Anulada"),
    "Pending": ("Ausstehend", "Pendiente"),
    "Active": ("Aktiv", "Activo"),
    "Suspended": ("Gesperrt", "Suspendido"),
    "Canceled": ("Gekündigt", "Cancelado"),
    "Name": ("Name", "Nombre"),
    "Client ID": ("Kundennummer", "N.º de cliente"),
    "Provider": ("Anbieter", "Proveedor"),
    "Save": ("Speichern", "Guardar"),
    "Contact Information": ("Kontaktinformationen", "Información de contacto"),
    "Phone Numbers": ("Telefonnummern", "Números de teléfono"),
    "Add Number": ("Nummer hinzufügen", "Añadir número"),
    "Additional Settings": ("Weitere Einstellungen", "Otros ajustes"),
    "Type": ("Art", "Tipo"),
    "Location": ("Ort", "Ubicación"),
    "Number": ("Nummer", "Número"),
    "Remove": ("Entfernen", "Quitar"),
    "this number": ("diese Nummer", "este número"),
    "Select a State/Province": ("Bundesland/Provinz wählen", "Elija un estado/provincia"),
    "This country has no states or provinces to choose from.": (
        "Für dieses Land gibt es keine Bundesländer oder Provinzen zur Auswahl.",
        "Este país no tiene estados ni provincias para elegir.",
    ),
    "None": ("Keine", "Ninguno"),
    "Update the form for the chosen country": (
        "Formular für das gewählte Land aktualisieren",
        "Actualizar el formulario para el país elegido",
    ),
    "Opt-in to marketing emails": ("Marketing-E-Mails erhalten", "Recibir correos de marketing"),
    "Check your email": ("Prüfen Sie Ihr Postfach", "Revise su correo"),
    "If an account exists for what you entered, we have sent it an email. Check your inbox.": (
        "Wenn zu Ihrer Eingabe ein Konto existiert, haben wir ihm eine E-Mail gesendet. Bitte prüfen Sie Ihr Postfach.",
        "Si existe una cuenta para lo que ha introducido, le hemos enviado un correo. Revise su bandeja de entrada.",
    ),
    "Link not valid": ("Link ungültig", "Enlace no válido"),
    "This link has expired or was already used. Ask for a new one.": (
        "Dieser Link ist abgelaufen oder wurde schon verwendet. Fordern Sie einen neuen an.",
        "Este enlace ha caducado o ya se ha usado. Solicite uno nuevo.",
    ),
    "Password changed": ("Passwort geändert", "Contraseña cambiada"),
    "Your password was changed. You can log in now.": (
        "Ihr Passwort wurde geändert. Sie können sich jetzt anmelden.",
        "Su contraseña se ha cambiado. Ya puede iniciar sesión.",
    ),
    "Your details were saved.": ("Ihre Daten wurden gespeichert.", "Sus datos se han guardado."),
    "Your password was changed. Other sessions were logged out.": (
        "Ihr Passwort wurde geändert. Andere Sitzungen wurden abgemeldet.",
        "Su contraseña se ha cambiado. Las demás sesiones se han cerrado.",
    ),
    "Please correct %(num)d field": ("Bitte korrigieren Sie %(num)d Feld", "Corrija %(num)d campo"),
    # messages from the services
    "Username or password is incorrect.": (
        "Benutzername oder Passwort ist falsch.",
        "El usuario o la contraseña no son correctos.",
    ),
    "Too many attempts. Wait 15 minutes and try again.": (
        "Zu viele Versuche. Warten Sie 15 Minuten und versuchen Sie es erneut.",
        "Demasiados intentos. Espere 15 minutos y vuelva a intentarlo.",
    ),
    "The current password is not correct.": (
        "Das aktuelle Passwort ist nicht korrekt.",
        "La contraseña actual no es correcta.",
    ),
    "Use at least 8 characters.": (
        "Verwenden Sie mindestens 8 Zeichen.",
        "Use al menos 8 caracteres.",
    ),
    "Use at most 128 characters.": (
        "Verwenden Sie höchstens 128 Zeichen.",
        "Use como máximo 128 caracteres.",
    ),
    "This password is too common. Choose a less predictable one.": (
        "Dieses Passwort ist zu verbreitet. Wählen Sie ein weniger vorhersehbares.",
        "Esta contraseña es demasiado común. Elija una menos previsible.",
    ),
    "The password must not be your name, username or email address.": (
        "Das Passwort darf nicht Ihr Name, Benutzername oder Ihre E-Mail-Adresse sein.",
        "La contraseña no puede ser su nombre, usuario o correo electrónico.",
    ),
    "Email is required.": ("E-Mail ist erforderlich.", "El correo electrónico es obligatorio."),
    "Enter a valid email address, like name@example.com.": (
        "Geben Sie eine gültige E-Mail-Adresse ein, etwa name@example.com.",
        "Introduzca un correo electrónico válido, como nombre@example.com.",
    ),
    "Choose a country from the list.": (
        "Wählen Sie ein Land aus der Liste.",
        "Elija un país de la lista.",
    ),
    "This State/Province is not in the chosen country. Choose one from the list.": (
        "Dieses Bundesland bzw. diese Provinz liegt nicht im gewählten Land. Wählen Sie eines aus der Liste.",
        "Este estado/provincia no pertenece al país elegido. Elija uno de la lista.",
    ),
    "Enter a valid phone number, with the area code (and +country code for numbers outside the contact's country).": (
        "Geben Sie eine gültige Telefonnummer mit Vorwahl ein (und +Ländervorwahl für Nummern außerhalb des Landes des Kontakts).",
        "Introduzca un número de teléfono válido con el prefijo (y +prefijo de país para números de otro país).",
    ),
    "Choose Phone or Fax.": ("Wählen Sie Telefon oder Fax.", "Elija Teléfono o Fax."),
    "Choose Home or Work.": ("Wählen Sie Privat oder Arbeit.", "Elija Casa o Trabajo."),
    "Number is too long (at most 40 characters).": (
        "Die Nummer ist zu lang (höchstens 40 Zeichen).",
        "El número es demasiado largo (máximo 40 caracteres).",
    ),
    "At most 50 numbers can be stored.": (
        "Es können höchstens 50 Nummern gespeichert werden.",
        "Se pueden guardar como máximo 50 números.",
    ),
    "Choose a language from the list.": (
        "Wählen Sie eine Sprache aus der Liste.",
        "Elija un idioma de la lista.",
    ),
    "At least one Phone number is required.": (
        "Mindestens eine Telefonnummer ist erforderlich.",
        "Se necesita al menos un número de teléfono.",
    ),
    "At least one Fax number is required.": (
        "Mindestens eine Faxnummer ist erforderlich.",
        "Se necesita al menos un número de fax.",
    ),
    "Another client already uses this email address.": (
        "Diese E-Mail-Adresse wird bereits von einem anderen Kunden verwendet.",
        "Otro cliente ya usa este correo electrónico.",
    ),
    "Your details were changed elsewhere in the meantime. Check them and save again.": (
        "Ihre Daten wurden inzwischen an anderer Stelle geändert. Prüfen Sie sie und speichern Sie erneut.",
        "Sus datos se han cambiado entretanto en otro lugar. Revíselos y guarde de nuevo.",
    ),
    # mail
    "Welcome to %(company)s": ("Willkommen bei %(company)s", "Bienvenido a %(company)s"),
    "Hello %(name)s,": ("Hallo %(name)s,", "Hola %(name)s:"),
    "An account has been created for you at %(company)s.": (
        "bei %(company)s wurde ein Kundenkonto für Sie angelegt.",
        "Se ha creado una cuenta para usted en %(company)s.",
    ),
    "Log in at: %(url)s": ("Anmelden unter: %(url)s", "Inicie sesión en: %(url)s"),
    "Username: %(username)s": ("Benutzername: %(username)s", "Nombre de usuario: %(username)s"),
    'For your security this email does not contain your password. If you do not know it, choose "Forgot password" on the login page to set a new one.': (
        "Zu Ihrer Sicherheit enthält diese E-Mail Ihr Passwort nicht. Falls Sie es nicht kennen, wählen Sie auf der Anmeldeseite „Passwort vergessen“, um ein neues festzulegen.",
        "Por su seguridad, este correo no contiene su contraseña. Si no la conoce, elija «¿Olvidó su contraseña?» en la página de inicio de sesión para establecer una nueva.",
    ),
    "Reset your password at %(company)s": (
        "Passwort bei %(company)s zurücksetzen",
        "Restablezca su contraseña en %(company)s",
    ),
    "Someone asked to reset the password of your account at %(company)s. To choose a new password, open this link within one hour:": (
        "Jemand hat angefordert, das Passwort Ihres Kontos bei %(company)s zurückzusetzen. Um ein neues Passwort zu wählen, öffnen Sie diesen Link innerhalb einer Stunde:",
        "Alguien ha solicitado restablecer la contraseña de su cuenta en %(company)s. Para elegir una contraseña nueva, abra este enlace en el plazo de una hora:",
    ),
    "If you did not ask for this, ignore this email: your password stays as it is.": (
        "Wenn Sie das nicht angefordert haben, ignorieren Sie diese E-Mail: Ihr Passwort bleibt unverändert.",
        "Si no lo ha solicitado, ignore este correo: su contraseña no cambia.",
    ),
    "Your password at %(company)s was changed": (
        "Ihr Passwort bei %(company)s wurde geändert",
        "Su contraseña en %(company)s se ha cambiado",
    ),
    "The password of your account at %(company)s was just changed, and every other session was logged out.": (
        "Das Passwort Ihres Kontos bei %(company)s wurde soeben geändert, und alle anderen Sitzungen wurden abgemeldet.",
        "La contraseña de su cuenta en %(company)s se acaba de cambiar y se han cerrado todas las demás sesiones.",
    ),
    "If you did not do this, reset your password at once: %(url)s": (
        "Wenn Sie das nicht waren, setzen Sie Ihr Passwort sofort zurück: %(url)s",
        "Si no ha sido usted, restablezca su contraseña de inmediato: %(url)s",
    ),
    "Your username at %(company)s": (
        "Ihr Benutzername bei %(company)s",
        "Su usuario en %(company)s",
    ),
}
PLURALS = {
    ("Please correct %(num)d field", "Please correct %(num)d fields"): (
        ("Bitte korrigieren Sie %(num)d Feld", "Bitte korrigieren Sie %(num)d Felder"),
        ("Corrija %(num)d campo", "Corrija %(num)d campos"),
    ),
}


def _generated() -> dict[str, tuple[str, str]]:
    """Messages the services build from labels."""
    generated = {}
    for label, (de, es) in LABELS.items():
        generated[label] = (de, es)
        generated[f"{label} is required."] = (
            f"{de} ist erforderlich.",
            f"{es}: campo obligatorio.",
        )
        if label in LENGTHS:
            n = LENGTHS[label]
            generated[f"{label} is too long (at most {n} characters)."] = (
                f"{de} ist zu lang (höchstens {n} Zeichen).",
                f"{es}: demasiado largo (máximo {n} caracteres).",
            )
    return generated


def main() -> None:
    messages = {**_generated(), **MESSAGES}
    for index, language in enumerate(("de", "es")):
        catalog = Catalog(locale=language, project="client-portal", charset="utf-8", fuzzy=False)
        for msgid, translations in sorted(messages.items()):
            if msgid != "Please correct %(num)d field":
                catalog.add(msgid, translations[index])
        for (singular, plural), translations in PLURALS.items():
            catalog.add((singular, plural), translations[index])
        target = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            write_po(handle, catalog, width=100, omit_header=False)


if __name__ == "__main__":
    main()
