/** Login and connection security: USER, PASS, AUTH TLS, PBSZ, PROT, and LANG (RFC 2640). */
import { GatewayError, matchLanguage } from '../../../core/index.js';
import { FtpReply } from '../reply.js';
import type { CommandTable } from './context.js';


export const loginCommands: CommandTable = {
  USER: {
    beforeLogin: true,
    run(control, arg) {
      if (control.session) throw new FtpReply(503, 'Already logged in.');
      if (control.config.requireTls && control.tlsVersion === null) {
        // ftp.requireTls: refused before any password can cross in clear.
        throw new GatewayError('TLS_REQUIRED', 'USER before AUTH TLS on a requireTls server', { text: 'tls_required_server' });
      }
      if (arg === '') throw new FtpReply(501, 'A user name is required.');
      control.username = arg;
      control.reply(331, 'Password required.');
    },
  },

  PASS: {
    beforeLogin: true,
    async run(control, arg) {
      if (control.session) throw new FtpReply(503, 'Already logged in.');
      const username = control.username;
      if (username === undefined) throw new FtpReply(503, 'Send USER first.');
      control.username = undefined; // a new attempt starts with USER again
      await control.login(username, arg);
    },
  },

  AUTH: {
    beforeLogin: true,
    async run(control, arg) {
      if (!/^(TLS|TLS-C|SSL)$/i.test(arg.trim())) throw new FtpReply(504, 'Only AUTH TLS is supported.');
      if (control.tlsVersion !== null) throw new FtpReply(503, 'TLS is already active.');
      if (control.session) throw new FtpReply(503, 'AUTH TLS must come before login.');
      await control.startTls();
    },
  },

  PBSZ: {
    beforeLogin: true,
    run(control) {
      if (control.tlsVersion === null) throw new FtpReply(503, 'PBSZ needs AUTH TLS first.');
      control.reply(200, 'PBSZ=0');
    },
  },

  PROT: {
    beforeLogin: true,
    run(control, arg) {
      if (control.tlsVersion === null) throw new FtpReply(503, 'PROT needs AUTH TLS first.');
      const level = arg.trim().toUpperCase();
      if (level === 'P' || level === 'C') {
        control.dataProtected = level === 'P';
        return control.reply(200, `Protection level set to ${level === 'P' ? 'Private' : 'Clear'}.`);
      }
      if (level === 'S' || level === 'E') throw new FtpReply(536, 'Only PROT P and PROT C are supported.');
      throw new FtpReply(504, 'Unknown protection level.');
    },
  },

  LANG: {
    beforeLogin: true,
    run(control, arg) {
      if (arg.trim() === '') {
        control.language = undefined;
        return control.reply(200, 'Language reset to the default.');
      }
      const language = matchLanguage(arg);
      if (!language) throw new FtpReply(504, 'Unsupported language.');
      control.language = language;
      control.reply(200, `Language set to ${language}.`);
    },
  },
};
