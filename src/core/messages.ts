/**
 * Texts a person reads (login refusals, policy denials, the lockout message), in every language we
 * ship. A session's `language` picks one; anything untranslated falls back to English.
 */
export const LANGUAGES = ['en', 'de', 'fr', 'es'] as const;
export type Language = (typeof LANGUAGES)[number];
export type MessageParams = Record<string, string | number>;

type Catalog = Record<MessageKey, string>;

const en = {
  not_found: 'No such file or directory.',
  permission_denied: 'Permission denied.',
  read_only: 'Permission denied: this session is read-only.',
  already_exists: 'File already exists.',
  not_empty: 'Directory not empty.',
  not_a_directory: 'Not a directory.',
  is_a_directory: 'Is a directory.',
  bad_path: 'Invalid path.',
  unsupported: 'Operation not supported.',
  size_in_ascii: 'SIZE is not available in ASCII mode; use TYPE I.',
  no_space: 'Insufficient storage space.',
  transfer_aborted: 'Transfer aborted.',
  auth_failed: 'Login incorrect.',
  code_required: 'Two-factor authentication required: enter the code from your authenticator app.',
  code_required_appended:
    'Two-factor authentication required: send your password followed directly by the 6-digit code from your authenticator app.',
  code_incorrect: 'The authentication code is incorrect or was already used.',
  partial_session_invalid: 'This login attempt is unknown or has expired; log in again.',
  locked_out: 'Too many failed logins. Try again in {minutes} minutes.',
  rate_limited: 'Too many login attempts from your address. Try again in {minutes} minutes.',
  setup_2fa_required:
    'Two-factor authentication must be set up before you can log in. Allowed methods: {methods}.',
  tls_required: 'This account requires an encrypted connection: use AUTH TLS before logging in.',
  protected_data_required: 'This account requires protected data connections: use PROT P.',
  tls_required_server: 'This server requires TLS: use AUTH TLS before logging in.',
  weak_tls: 'TLS version {version} is not allowed for this account.',
  weak_ssh: 'The SSH algorithm {algorithm} is not allowed for this account.',
  session_ended: 'Your session has ended (logged out).',
  shutting_down: 'The server is shutting down.',
  unavailable: 'Logins are unavailable right now; try again shortly.',
  internal: 'Internal server error.',
  limit_reached: 'Server limit reached for this connection ({what}); close something and retry.',
  sftp_only: 'This server offers file transfer only (SFTP); shell and command execution are not available.',
};
export type MessageKey = keyof typeof en;

const de: Catalog = {
  not_found: 'Datei oder Verzeichnis nicht gefunden.',
  permission_denied: 'Zugriff verweigert.',
  read_only: 'Zugriff verweigert: diese Sitzung ist schreibgeschützt.',
  already_exists: 'Die Datei existiert bereits.',
  not_empty: 'Das Verzeichnis ist nicht leer.',
  not_a_directory: 'Kein Verzeichnis.',
  is_a_directory: 'Ist ein Verzeichnis.',
  bad_path: 'Ungültiger Pfad.',
  unsupported: 'Vorgang wird nicht unterstützt.',
  size_in_ascii: 'SIZE ist im ASCII-Modus nicht verfügbar; verwenden Sie TYPE I.',
  no_space: 'Nicht genügend Speicherplatz.',
  transfer_aborted: 'Übertragung abgebrochen.',
  auth_failed: 'Anmeldung fehlgeschlagen.',
  code_required:
    'Zwei-Faktor-Authentifizierung erforderlich: Geben Sie den Code aus Ihrer Authenticator-App ein.',
  code_required_appended:
    'Zwei-Faktor-Authentifizierung erforderlich: Senden Sie Ihr Passwort direkt gefolgt vom 6-stelligen Code aus Ihrer Authenticator-App.',
  code_incorrect: 'Der Authentifizierungscode ist falsch oder wurde bereits verwendet.',
  partial_session_invalid: 'Dieser Anmeldeversuch ist unbekannt oder abgelaufen; melden Sie sich erneut an.',
  locked_out: 'Zu viele fehlgeschlagene Anmeldungen. Versuchen Sie es in {minutes} Minuten erneut.',
  rate_limited:
    'Zu viele Anmeldeversuche von Ihrer Adresse. Versuchen Sie es in {minutes} Minuten erneut.',
  setup_2fa_required:
    'Die Zwei-Faktor-Authentifizierung muss eingerichtet werden, bevor Sie sich anmelden können. Erlaubte Methoden: {methods}.',
  tls_required:
    'Dieses Konto erfordert eine verschlüsselte Verbindung: Verwenden Sie AUTH TLS vor der Anmeldung.',
  protected_data_required: 'Dieses Konto erfordert geschützte Datenverbindungen: Verwenden Sie PROT P.',
  tls_required_server: 'Dieser Server erfordert TLS: Verwenden Sie AUTH TLS vor der Anmeldung.',
  weak_tls: 'Die TLS-Version {version} ist für dieses Konto nicht erlaubt.',
  weak_ssh: 'Der SSH-Algorithmus {algorithm} ist für dieses Konto nicht erlaubt.',
  session_ended: 'Ihre Sitzung wurde beendet (abgemeldet).',
  shutting_down: 'Der Server wird heruntergefahren.',
  unavailable: 'Anmeldungen sind gerade nicht möglich; versuchen Sie es gleich noch einmal.',
  internal: 'Interner Serverfehler.',
  limit_reached: 'Serverlimit für diese Verbindung erreicht ({what}); etwas schließen und erneut versuchen.',
  sftp_only: 'Dieser Server bietet nur Dateiübertragung (SFTP); Shell und Befehlsausführung sind nicht verfügbar.',
};

const fr: Catalog = {
  not_found: 'Fichier ou répertoire introuvable.',
  permission_denied: 'Permission refusée.',
  read_only: 'Permission refusée : cette session est en lecture seule.',
  already_exists: 'Le fichier existe déjà.',
  not_empty: "Le répertoire n'est pas vide.",
  not_a_directory: "Ce n'est pas un répertoire.",
  is_a_directory: 'Est un répertoire.',
  bad_path: 'Chemin invalide.',
  unsupported: 'Opération non prise en charge.',
  size_in_ascii: "SIZE n'est pas disponible en mode ASCII ; utilisez TYPE I.",
  no_space: 'Espace de stockage insuffisant.',
  transfer_aborted: 'Transfert interrompu.',
  auth_failed: 'Identifiants incorrects.',
  code_required:
    "Authentification à deux facteurs requise : saisissez le code de votre application d'authentification.",
  code_required_appended:
    "Authentification à deux facteurs requise : envoyez votre mot de passe suivi directement du code à 6 chiffres de votre application d'authentification.",
  code_incorrect: "Le code d'authentification est incorrect ou a déjà été utilisé.",
  partial_session_invalid: 'Cette tentative de connexion est inconnue ou a expiré ; reconnectez-vous.',
  locked_out: 'Trop de connexions échouées. Réessayez dans {minutes} minutes.',
  rate_limited: 'Trop de tentatives de connexion depuis votre adresse. Réessayez dans {minutes} minutes.',
  setup_2fa_required:
    "L'authentification à deux facteurs doit être configurée avant de vous connecter. Méthodes autorisées : {methods}.",
  tls_required:
    'Ce compte exige une connexion chiffrée : utilisez AUTH TLS avant de vous connecter.',
  protected_data_required: 'Ce compte exige des connexions de données protégées : utilisez PROT P.',
  tls_required_server: 'Ce serveur exige TLS : utilisez AUTH TLS avant de vous connecter.',
  weak_tls: "La version TLS {version} n'est pas autorisée pour ce compte.",
  weak_ssh: "L'algorithme SSH {algorithm} n'est pas autorisé pour ce compte.",
  session_ended: 'Votre session est terminée (déconnecté).',
  shutting_down: "Le serveur est en cours d'arrêt.",
  unavailable: 'Les connexions sont momentanément indisponibles ; réessayez dans un instant.',
  internal: 'Erreur interne du serveur.',
  limit_reached: 'Limite du serveur atteinte pour cette connexion ({what}) ; fermez quelque chose et réessayez.',
  sftp_only: "Ce serveur n'offre que le transfert de fichiers (SFTP) ; le shell et l'exécution de commandes ne sont pas disponibles.",
};

const es: Catalog = {
  not_found: 'No existe el archivo o directorio.',
  permission_denied: 'Permiso denegado.',
  read_only: 'Permiso denegado: esta sesión es de solo lectura.',
  already_exists: 'El archivo ya existe.',
  not_empty: 'El directorio no está vacío.',
  not_a_directory: 'No es un directorio.',
  is_a_directory: 'Es un directorio.',
  bad_path: 'Ruta no válida.',
  unsupported: 'Operación no admitida.',
  size_in_ascii: 'SIZE no está disponible en modo ASCII; use TYPE I.',
  no_space: 'Espacio de almacenamiento insuficiente.',
  transfer_aborted: 'Transferencia interrumpida.',
  auth_failed: 'Inicio de sesión incorrecto.',
  code_required:
    'Se requiere autenticación de dos factores: introduzca el código de su aplicación de autenticación.',
  code_required_appended:
    'Se requiere autenticación de dos factores: envíe su contraseña seguida directamente del código de 6 dígitos de su aplicación de autenticación.',
  code_incorrect: 'El código de autenticación es incorrecto o ya se utilizó.',
  partial_session_invalid: 'Este intento de inicio de sesión es desconocido o ha caducado; inicie sesión de nuevo.',
  locked_out: 'Demasiados inicios de sesión fallidos. Inténtelo de nuevo en {minutes} minutos.',
  rate_limited:
    'Demasiados intentos de inicio de sesión desde su dirección. Inténtelo de nuevo en {minutes} minutos.',
  setup_2fa_required:
    'Debe configurar la autenticación de dos factores antes de iniciar sesión. Métodos permitidos: {methods}.',
  tls_required:
    'Esta cuenta requiere una conexión cifrada: use AUTH TLS antes de iniciar sesión.',
  protected_data_required: 'Esta cuenta requiere conexiones de datos protegidas: use PROT P.',
  tls_required_server: 'Este servidor requiere TLS: use AUTH TLS antes de iniciar sesión.',
  weak_tls: 'La versión de TLS {version} no está permitida para esta cuenta.',
  weak_ssh: 'El algoritmo SSH {algorithm} no está permitido para esta cuenta.',
  session_ended: 'Su sesión ha terminado (sesión cerrada).',
  shutting_down: 'El servidor se está apagando.',
  unavailable: 'El inicio de sesión no está disponible ahora; inténtelo de nuevo en breve.',
  internal: 'Error interno del servidor.',
  limit_reached: 'Límite del servidor alcanzado para esta conexión ({what}); cierre algo y vuelva a intentarlo.',
  sftp_only: 'Este servidor solo ofrece transferencia de archivos (SFTP); el shell y la ejecución de comandos no están disponibles.',
};

const CATALOGS: Record<Language, Catalog> = { en, de, fr, es };

/** Picks a supported language from a tag such as "de", "de-AT" or "fr_CA"; undefined if none fits. */
export function matchLanguage(tag: string | undefined): Language | undefined {
  const base = tag?.trim().toLowerCase().split(/[-_]/)[0];
  return (LANGUAGES as readonly string[]).includes(base ?? '') ? (base as Language) : undefined;
}

export function translate(language: string | undefined, key: MessageKey, params: MessageParams = {}): string {
  const catalog = CATALOGS[matchLanguage(language) ?? 'en'];
  return catalog[key].replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}
