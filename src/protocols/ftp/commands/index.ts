/** Every FTP command we answer, by verb. The stock ftp-srv handlers we keep are wrapped here too. */
import type { FtpControl } from '../control.js';
import { STOCK_COMMANDS, stockCommand } from '../ftp-srv.js';
import { fileCommands } from './files.js';
import { infoCommands } from './info.js';
import { loginCommands } from './login.js';
import { transferCommands } from './transfer.js';

export interface FtpCommand {
  run(control: FtpControl, arg: string): Promise<void> | void;
  /** Allowed before login (USER, PASS, AUTH, FEAT, ...). */
  beforeLogin?: boolean;
}

export type CommandTable = Readonly<Record<string, FtpCommand>>;

const stockCommands: CommandTable = Object.fromEntries(
  STOCK_COMMANDS.map((verb) => [
    verb,
    {
      beforeLogin: verb === 'NOOP' || verb === 'SYST',
      run: async (control: FtpControl, arg: string) => {
        const { connection } = control;
        const command = { directive: verb, arg: arg === '' ? null : arg, flags: [], raw: `${verb} ${arg}` };
        await stockCommand(verb).handler.call(connection, { log: connection.log, command });
      },
    },
  ]),
);

export const COMMANDS: CommandTable = {
  ...stockCommands,
  ...loginCommands,
  ...fileCommands,
  ...transferCommands,
  ...infoCommands,
};
