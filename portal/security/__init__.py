"""Account security shared by staff and client-area logins: two-factor codes and recovery
codes, passkeys, and the list of a login's sessions. A login is named by its kind ("staff" or
"client") and its id; this domain knows nothing else of either."""
