/**
 * SSH_MSG_USERAUTH_BANNER during authentication (RFC 4252 §5.4): the only way to show a login
 * refusal's text ("locked out", "2FA setup needed") to OpenSSH, curl and ssh2 clients for every auth
 * method. ssh2 sends a banner only once, before authentication starts, so this builds the message
 * with ssh2's own packet writer. It relies on ssh2 internals (`_protocol`, `lib/protocol/utils.js`)
 * of the pinned version 1.17.0; the SFTP integration tests assert the text arrives.
 */
import { createRequire } from 'node:module';
import type { Connection } from 'ssh2';

const USERAUTH_BANNER = 53;

interface PacketWriter {
  allocStart: number;
  alloc(length: number): Buffer;
  finalize(packet: Buffer): Buffer;
}
interface ProtocolInternals {
  _packetRW: { write: PacketWriter };
}

const require = createRequire(import.meta.url);
const { sendPacket } = require('ssh2/lib/protocol/utils.js') as {
  sendPacket(protocol: ProtocolInternals, packet: Buffer): boolean;
};

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
  sendPacket(protocol, writer.finalize(packet));
}
