// Structured logs: one JSON object per line on stderr, `{"time", "level", "msg", …fields}`, so a log
// collector (or a test) reads fields instead of parsing sentences.
import { writeSync } from 'node:fs';

export type Level = 'debug' | 'info' | 'warn' | 'error';
export type Logger = Record<Level, (msg: string, fields?: Record<string, unknown>) => void>;

export function jsonLogger(fd = 2, minimum: Level = 'info'): Logger {
  const order: Level[] = ['debug', 'info', 'warn', 'error'];
  const at =
    (level: Level) =>
    (msg: string, fields: Record<string, unknown> = {}) => {
      if (order.indexOf(level) < order.indexOf(minimum)) return;
      const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }, (_k, v: unknown) =>
        v instanceof Error ? { name: v.name, message: v.message } : typeof v === 'bigint' ? String(v) : v,
      );
      writeSync(fd, `${line}\n`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
