// Golden request fixtures: what iproute2 really sent (test/golden/capture.sh in core and routes), as
// hex with `#` comment lines. Read here once for every package that compares requests against them.
import { readFileSync } from 'node:fs';
import { decodeMessages, type NlMessage } from '../netlink/codec.js';

/** The first netlink message of a golden `.hex` file (lines starting with `#` are comments). */
export function readGolden(file: string): NlMessage {
  const hex = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('');
  const [m] = decodeMessages(Buffer.from(hex, 'hex'));
  if (m === undefined) throw new Error(`${file} holds no netlink message`);
  return m;
}
