/**
 * A password for the CLI: prompted for without echo on a terminal (twice, to catch a typo), else
 * read from stdin (`printf %s "$PW" | filegate users add bob`). Never an argument: argv is visible
 * to every user of the machine.
 */

export async function readPassword(prompt: string): Promise<string> {
  const password = process.stdin.isTTY ? await promptTwice(prompt) : await readStdin();
  if (password.length === 0) throw new Error('no password given (on stdin or at the prompt)');
  return password;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function promptTwice(prompt: string): Promise<string> {
  const first = await promptHidden(prompt);
  const second = await promptHidden('Again: ');
  if (first !== second) throw new Error('the two passwords differ');
  return first;
}

/** Reads one line from the terminal in raw mode, echoing nothing. Ctrl-C aborts. */
function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  let typed = '';
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      input.setRawMode(false);
      input.pause();
      input.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (chunk: Buffer): void => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return done();
        if (char === '\u0003') return done(new Error('interrupted'));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    input.on('data', onData);
  });
}
