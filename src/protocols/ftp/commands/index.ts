/** Every FTP command we answer, by verb. */
import type { CommandTable } from './context.js';
import { fileCommands } from './files.js';
import { infoCommands } from './info.js';
import { listingCommands } from './listings.js';
import { loginCommands } from './login.js';
import { transferCommands } from './transfer.js';

const answered: CommandTable = {
  ...loginCommands,
  ...fileCommands,
  ...transferCommands,
  ...listingCommands,
  ...infoCommands,
};

export const COMMANDS: CommandTable = {
  ...answered,
  HELP: {
    beforeLogin: true,
    run(control) {
      const verbs = Object.keys(COMMANDS).sort();
      const rows: string[] = [];
      for (let i = 0; i < verbs.length; i += 8) rows.push(` ${verbs.slice(i, i + 8).join(' ')}`);
      control.reply(214, 'The following commands are recognized:', ...rows, 'Help OK.');
    },
  },
};

export type { CommandTable, FtpCommand, FtpCommandContext } from './context.js';
