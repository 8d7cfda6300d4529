/**
 * SSH_MSG_USERAUTH_BANNER during authentication (RFC 4252 §5.4): the only way to show a login
 * refusal's text ("locked out", "2FA setup needed") to OpenSSH, curl and ssh2 clients for every auth
 * method. ssh2 sends a banner only once, before authentication starts, so this builds the message
 * with ssh2's own packet writer.
 *
 * This is the one module that touches ssh2 internals (`_protocol._packetRW`, `lib/protocol/utils.js`),
 * written for ssh2 1.17.0: `checkAuthBannerSupport()` runs when the SFTP server starts and refuses
 * to start on any other version, so an ssh2 upgrade fails at once instead of at a user's login.
 */
import { createRequire } from 'node:module';
import type { Connection } from 'ssh2';

const USERAUTH_BANNER = 53;
/** The ssh2 release whose internals this module was written against. */
export const SSH2_VERSION_WRITTEN_FOR = '1.17.0';

interface PacketWriter {
  allocStart: number;
  alloc(length: number): Buffer;
  finalize(packet: Buffer): Buffer;
}
interface ProtocolInternals {
  _packetRW: { write: PacketWriter };
}
type SendPacket = (protocol: ProtocolInternals, packet: Buffer) => boolean;

const require = createRequire(import.meta.url);
const installedVersion = (require('ssh2/package.json') as { version: string }).version;
const { sendPacket } = require('ssh2/lib/protocol/utils.js') as { sendPacket?: SendPacket };

/** Throws unless the installed ssh2 is the one this module was written for and has what it uses. */
export function checkAuthBannerSupport(version = installedVersion, send: unknown = sendPacket): void {
  if (version !== SSH2_VERSION_WRITTEN_FOR) {
    throw new Error(
      `ssh2 ${version} is installed, but the SFTP auth banner (src/protocols/sftp/auth-banner.ts) uses internals of ssh2 ` +
        `${SSH2_VERSION_WRITTEN_FOR}: check that module against the new version, then update SSH2_VERSION_WRITTEN_FOR`,
    );
  }
  if (typeof send !== 'function') throw new Error(`ssh2 ${version} lacks lib/protocol/utils.js sendPacket, which the SFTP auth banner needs`);
}

/** Sends `text` (one or more lines) as a user-authentication banner. */
export function sendAuthBanner(client: Connection, text: string): void {
  const protocol = (client as unknown as { _protocol: ProtocolInternals })._protocol;
  const message = text.endsWith('\r\n') ? text : `${text}\r\n`;
  const length = Buffer.byteLength(message);
  const writer = protocol._packetRW.write;
  let p = writer.allocStart;
  const packet = writer.alloc(1 + 4 + length + 4);
  packet[p] = USERAUTH_BANNER;
  packet.writeUInt32BE(length, ++p);
  packet.write(message, (p += 4), length, 'utf8');
  packet.writeUInt32BE(0, p + length); // empty language tag
  sendPacket!(protocol, writer.finalize(packet));
}
