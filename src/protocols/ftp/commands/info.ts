/** Informational and connection-level commands: FEAT, OPTS, STAT, MLST, NOOP, SYST, ALLO, and QUIT. */
import { LANGUAGES } from '../../../core/index.js';
import { mlsxFacts } from '../listing.js';
import { FtpReply } from '../reply.js';
import type { CommandTable } from './context.js';
import { listingLines } from './listings.js';

const MLST_FACTS = 'type*;size*;modify*;perm*;';

export const infoCommands: CommandTable = {
  FEAT: {
    beforeLogin: true,
    run(control) {
      const current = control.lang ?? 'en';
      const languages = LANGUAGES.map((language) => (language === current ? `${language}*` : language)).join(';');
      const active = control.config.activeMode ? ['EPRT'] : [];
      const features = ['AUTH TLS', ...active, 'EPSV', `LANG ${languages}`, 'MDTM', 'MFMT', `MLST ${MLST_FACTS}`, 'PASV', 'PBSZ', 'PROT', 'REST STREAM', 'SIZE', 'TVFS', 'UTF8'];
      control.reply(211, 'Features:', ...features.map((feature) => ` ${feature}`), 'End');
    },
  },

  OPTS: {
    beforeLogin: true,
    run(control, arg) {
      const [option = '', value = ''] = arg.trim().split(/\s+/, 2);
      const name = option.toUpperCase();
      if (name === 'UTF8' || name === 'UTF-8') {
        if (value.toUpperCase() === 'OFF') throw new FtpReply(504, 'UTF-8 cannot be turned off.');
        return control.reply(200, 'Always in UTF-8 mode.');
      }
      // We always send every fact; RFC 3659 lets the reply name the facts in effect.
      if (name === 'MLST') return control.reply(200, `MLST OPTS ${MLST_FACTS.replace(/\*/g, '')}`);
      throw new FtpReply(501, 'Unknown option.');
    },
  },

  STAT: {
    async run(control, arg) {
      if (arg === '') {
        const protection = control.dataProtected ? 'private' : 'clear';
        return control.reply(
          211,
          'filegate FTP server status:',
          ` Logged in as ${control.session!.username}`,
          ` TYPE: ${control.ascii ? 'ASCII' : 'BINARY'}; TLS: ${control.tlsVersion ?? 'none'}; data protection: ${protection}`,
          'End of status',
        );
      }
      const { lines, complete } = await listingLines(control, control.path(arg));
      const end = complete ? 'End of status' : `End of status (the first ${lines.length} entries; LIST shows them all)`;
      control.reply(213, 'Status follows:', ...lines.map((line) => ` ${line}`), end);
    },
  },

  MLST: {
    async run(control, arg) {
      const virtualPath = control.path(arg === '' ? '.' : arg);
      const stats = await control.files.stat(virtualPath);
      control.reply(250, `Listing ${virtualPath}`, ` ${mlsxFacts(stats, control.mayWrite)} ${virtualPath}`, 'End');
    },
  },

  NOOP: { beforeLogin: true, run: (control) => control.reply(200, 'NOOP ok.') },
  SYST: { beforeLogin: true, run: (control) => control.reply(215, 'UNIX Type: L8') },
  /** Obsolete (RFC 959): nothing to allocate. */
  ALLO: { run: (control) => control.reply(202, 'No storage allocation necessary.') },

  QUIT: {
    beforeLogin: true,
    run(control) {
      control.reply(221, 'Goodbye.');
      control.close();
    },
  },
};
