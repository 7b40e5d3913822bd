// Logs go to stderr (stdout carries only the result or the error JSON) and, when the config names a
// `logFile`, are appended there too, one line each with a timestamp and the attachment.
import { appendFileSync } from 'node:fs';

export interface Logger {
  info(message: string): void;
  /** Also log to `path` from now on (set once the config is read). */
  toFile(path: string): void;
}

export function createLogger(stderr: (text: string) => void, tag: () => string): Logger {
  let file: string | undefined;
  return {
    info(message) {
      const line = `${new Date().toISOString()} netboot ${tag()}: ${message}\n`;
      stderr(line);
      if (file === undefined) return;
      try {
        appendFileSync(file, line);
      } catch (err) {
        stderr(`netboot: cannot write log file ${file}: ${(err as Error).message}\n`);
      }
    },
    toFile(path) {
      file = path;
    },
  };
}
