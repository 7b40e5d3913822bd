// Lets the parent start every worker at the same moment: print `ready`, then wait for `go` on stdin.
import { createInterface } from 'node:readline';

export async function readyThenWaitForGo(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  process.stdout.write('ready\n');
  for await (const line of lines) {
    if (line === 'go') break;
  }
  lines.close();
}

/** What a worker reports: its results plus when it started and finished working (epoch ms). */
export function report<T>(result: T, startedAt: number): void {
  process.stdout.write(`${JSON.stringify({ result, startedAt, endedAt: Date.now() })}\n`);
}
