/** A new TOTP secret for a user: the base32 text, its otpauth:// URI and the URI as a terminal QR code. */
import qrcode from 'qrcode-terminal';
import { TotpVerifier } from '../core/index.js';

export function newTotpSecret(): string {
  return TotpVerifier.randomSecret();
}

/** Lines to enroll a phone app: the secret, the URI, then a QR code of the URI. */
export function totpEnrollment(secret: string, username: string): string {
  const uri = `otpauth://totp/filegate:${encodeURIComponent(username)}?secret=${secret}&issuer=filegate`;
  let qr = '';
  qrcode.generate(uri, { small: true }, (code) => (qr = code)); // synchronous despite the callback
  return `${secret}\n${uri}\n${qr}`;
}
