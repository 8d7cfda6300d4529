/** The one module on ssh2 internals: its version self-check, and the banner reaching a real client. */
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import ssh2 from 'ssh2';
import { checkAuthBannerSupport, sendAuthBanner, SSH2_VERSION_WRITTEN_FOR } from '../../../../src/protocols/sftp/auth-banner.js';

describe('auth banner (ssh2 internals)', () => {
  it('accepts the installed ssh2 and refuses any other version loudly', () => {
    expect(() => checkAuthBannerSupport()).not.toThrow();
    expect(() => checkAuthBannerSupport('1.17.1')).toThrow(/ssh2 1\.17\.1 is installed.*1\.17\.0/);
    expect(() => checkAuthBannerSupport('2.0.0')).toThrow(/auth-banner\.ts/);
    expect(() => checkAuthBannerSupport(SSH2_VERSION_WRITTEN_FOR, null)).toThrow(/sendPacket/);
  });

  it('shows the text to an ssh2 client during authentication', async () => {
    const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private;
    const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
      client.on('authentication', (ctx) => {
        sendAuthBanner(client, 'Zugriff verweigert: gesperrt.');
        ctx.reject(['password']);
      });
      client.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const banners: string[] = [];
      const client = new ssh2.Client();
      client.on('banner', (text) => banners.push(text));
      await new Promise<void>((resolve) => {
        client.once('error', () => resolve());
        client.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, username: 'u', password: 'p', readyTimeout: 5000 });
      });
      client.end();
      expect(banners).toContain('Zugriff verweigert: gesperrt.\r\n');
    } finally {
      server.close();
    }
  });
});
