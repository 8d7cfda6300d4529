/** Runs a command-line client to its end (bounded by a timeout): exit code and output. */
import { execFile } from 'node:child_process';

export interface CliResult<Output = string> {
  /** 0 on success; the client's exit status; null when it was killed (timeout). */
  code: number | null;
  stdout: Output;
  stderr: string;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  /** Written to the client's stdin, which is then closed. */
  input?: string;
  timeoutMs?: number;
}

function run<Output>(file: string, args: string[], options: CliOptions, encoding: 'utf8' | 'buffer'): Promise<CliResult<Output>> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env: options.env, timeout: options.timeoutMs ?? 20_000, encoding, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout: stdout as Output, stderr: stderr.toString() }),
    );
    child.stdin!.end(options.input ?? '');
  });
}

export function runCli(file: string, args: string[], options: CliOptions = {}): Promise<CliResult> {
  return run<string>(file, args, options, 'utf8');
}

/** The same, with stdout as raw bytes (downloads written to stdout). */
export function runCliBinary(file: string, args: string[], options: CliOptions = {}): Promise<CliResult<Buffer>> {
  return run<Buffer>(file, args, options, 'buffer');
}
