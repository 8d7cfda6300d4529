/** Reads a JSON file for start-up validation; every failure names the file. */
import { readFile } from 'node:fs/promises';

export async function readJsonFile(file: string, what: string, makeError: (message: string) => Error): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw makeError(`${file}: cannot read the ${what} (${(err as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw makeError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}
