/**
 * Working directory and file commands that need no data connection: CWD, CDUP, PWD, MKD, RMD,
 * DELE, RNFR/RNTO, SIZE, MDTM, MFMT and SITE CHMOD/UTIME. Every one is a GuardedFs call.
 */
import { GatewayError } from '../../../core/index.js';
import type { CommandTable, FtpCommand, FtpCommandContext } from './context.js';
import { ftpTime, parseFtpTime } from '../listing.js';
import { FtpReply, quotePath } from '../reply.js';


async function changeDirectory(control: FtpCommandContext, virtualPath: string): Promise<void> {
  if (!(await control.files.stat(virtualPath)).isDirectory()) {
    throw new GatewayError('NOT_A_DIRECTORY', 'CWD to a file', { text: 'not_a_directory' });
  }
  control.cwd = virtualPath;
  control.reply(250, `Directory changed to ${quotePath(virtualPath)}.`);
}

const cwd: FtpCommand = { run: (control, arg) => changeDirectory(control, control.path(arg)) };
const cdup: FtpCommand = { run: (control) => changeDirectory(control, control.path('..')) };
const pwd: FtpCommand = { run: (control) => control.reply(257, `${quotePath(control.cwd)} is the current directory.`) };

const mkd: FtpCommand = {
  async run(control, arg) {
    const virtualPath = control.path(arg);
    await control.files.mkdir(virtualPath);
    control.reply(257, `${quotePath(virtualPath)} created.`);
  },
};

const rmd: FtpCommand = {
  async run(control, arg) {
    await control.files.rmdir(control.path(arg));
    control.reply(250, 'Directory removed.');
  },
};

/**
 * MFMT / SITE UTIME: read_only refuses them outright (550 like every write verb); without
 * use_provided_modified_at the core keeps its own time and we report the time really stored.
 */
async function setModified(control: FtpCommandContext, virtualPath: string, mtime: Date, atime?: Date): Promise<Date> {
  await control.files.checkWritable('setstat', virtualPath);
  return (await control.files.setAttributes(virtualPath, { mtime, atime })).mtime;
}

function timeArg(text: string): Date {
  const when = parseFtpTime(text);
  if (!when) throw new FtpReply(501, 'Expected a time as YYYYMMDDHHMMSS.');
  return when;
}

/** SITE UTIME in both common forms: `<time> <path>` (ProFTPD) and `<path> <atime> <mtime> <ctime> UTC`. */
async function siteUtime(control: FtpCommandContext, rest: string): Promise<void> {
  const fiveArgs = /^(.+) (\d{14}) (\d{14}) \d{14} UTC$/i.exec(rest);
  const twoArgs = /^(\d{12}|\d{14}) (.+)$/.exec(rest);
  let mtime: Date;
  if (fiveArgs) mtime = await setModified(control, control.path(fiveArgs[1]!), timeArg(fiveArgs[3]!), timeArg(fiveArgs[2]!));
  else if (twoArgs) mtime = await setModified(control, control.path(twoArgs[2]!), timeArg(twoArgs[1]!.padEnd(14, '0')));
  else throw new FtpReply(501, 'Usage: SITE UTIME YYYYMMDDHHMMSS path.');
  control.reply(200, `UTIME OK; modify=${ftpTime(mtime)}`);
}

async function siteChmod(control: FtpCommandContext, rest: string): Promise<void> {
  const parsed = /^([0-7]{3,4}) (.+)$/.exec(rest);
  if (!parsed) throw new FtpReply(501, 'Usage: SITE CHMOD mode path.');
  const virtualPath = control.path(parsed[2]!);
  await control.files.checkWritable('setstat', virtualPath);
  await control.files.setAttributes(virtualPath, { mode: parseInt(parsed[1]!, 8) });
  control.reply(200, 'SITE CHMOD command successful.');
}

export const fileCommands: CommandTable = {
  CWD: cwd,
  XCWD: cwd,
  CDUP: cdup,
  XCUP: cdup,
  PWD: pwd,
  XPWD: pwd,
  MKD: mkd,
  XMKD: mkd,
  RMD: rmd,
  XRMD: rmd,

  DELE: {
    async run(control, arg) {
      await control.files.remove(control.path(arg));
      control.reply(250, 'File deleted.');
    },
  },

  RNFR: {
    async run(control, arg) {
      const virtualPath = control.path(arg);
      await control.files.checkWritable('rename', virtualPath);
      await control.files.lstat(virtualPath);
      control.rememberRename(virtualPath);
      control.reply(350, 'Ready for RNTO.');
    },
  },

  RNTO: {
    async run(control, arg) {
      const from = control.takeRename();
      if (from === undefined) throw new FtpReply(503, 'RNFR must come right before RNTO.');
      await control.files.rename(from, control.path(arg));
      control.reply(250, 'Rename successful.');
    },
  },

  SIZE: {
    async run(control, arg) {
      control.reply(213, String(await control.files.size(control.path(arg), { ascii: control.ascii })));
    },
  },

  MDTM: {
    async run(control, arg) {
      control.reply(213, ftpTime((await control.files.stat(control.path(arg))).mtime));
    },
  },

  MFMT: {
    async run(control, arg) {
      const parsed = /^(\S+) (.+)$/.exec(arg);
      if (!parsed) throw new FtpReply(501, 'Usage: MFMT YYYYMMDDHHMMSS path.');
      const virtualPath = control.path(parsed[2]!);
      const mtime = await setModified(control, virtualPath, timeArg(parsed[1]!));
      control.reply(213, `Modify=${ftpTime(mtime)}; ${virtualPath}`);
    },
  },

  SITE: {
    async run(control, arg) {
      const space = arg.indexOf(' ');
      const sub = (space === -1 ? arg : arg.slice(0, space)).toUpperCase();
      const rest = space === -1 ? '' : arg.slice(space + 1);
      if (sub === 'CHMOD') return siteChmod(control, rest);
      if (sub === 'UTIME') return siteUtime(control, rest);
      if (sub === 'HELP') return control.reply(214, 'SITE commands: CHMOD UTIME HELP');
      throw new FtpReply(504, 'Unknown SITE command.');
    },
  },
};
