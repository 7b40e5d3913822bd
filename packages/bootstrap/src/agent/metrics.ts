// The agent's Prometheus metrics, in the text exposition format (version 0.0.4) that /metrics serves.
// A handful of gauges and counters do not need a client library.

interface Series {
  help: string;
  type: 'gauge' | 'counter';
  values: Map<string, number>; // label text ('' or '{kind="route"}') → value
}

export class Metrics {
  readonly #series = new Map<string, Series>();

  constructor() {
    this.#define('netboot_peers', 'gauge', 'Peers currently known from the datastore.');
    this.#define('netboot_datastore_up', 'gauge', '1 while the datastore watch is synced, 0 while it is unreachable and retried.');
    this.#define('netboot_ready', 'gauge', '1 once the datastore synced and the first reconcile ran.');
    this.#define('netboot_reconcile_passes_total', 'counter', 'Reconcile passes, by kind (full, update, repair).');
    this.#define('netboot_reconcile_errors_total', 'counter', 'Reconcile passes that threw, and operations the kernel refused.');
    this.#define('netboot_reconcile_duration_seconds_sum', 'counter', 'Total time spent in reconcile passes.');
    this.#define('netboot_reconcile_last_duration_seconds', 'gauge', 'Duration of the last reconcile pass.');
    this.#define('netboot_operations_total', 'counter', 'Kernel operations written, by kind (nexthop, route, neigh, fdb).');
    this.#define(
      'netboot_lease_changes_total',
      'counter',
      'Times this node’s lease changed while running (subnets or their pools), each taken without a restart.',
    );
    this.#define('netboot_datastore_events_total', 'counter', 'Datastore events, by type (sync, upsert, remove, waiting).');
  }

  set(name: string, value: number, labels: Record<string, string> = {}): void {
    this.#get(name).values.set(labelText(labels), value);
  }

  add(name: string, by = 1, labels: Record<string, string> = {}): void {
    const s = this.#get(name);
    const key = labelText(labels);
    s.values.set(key, (s.values.get(key) ?? 0) + by);
  }

  /** The exposition text. */
  render(): string {
    const out: string[] = [];
    for (const [name, s] of this.#series) {
      out.push(`# HELP ${name} ${s.help}`, `# TYPE ${name} ${s.type}`);
      if (s.values.size === 0 && s.type === 'gauge') out.push(`${name} 0`);
      for (const [labels, v] of s.values) out.push(`${name}${labels} ${v}`);
    }
    return `${out.join('\n')}\n`;
  }

  #define(name: string, type: Series['type'], help: string): void {
    this.#series.set(name, { help, type, values: new Map() });
  }

  #get(name: string): Series {
    const s = this.#series.get(name);
    if (s === undefined) throw new Error(`unknown metric ${name}`);
    return s;
  }
}

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}
