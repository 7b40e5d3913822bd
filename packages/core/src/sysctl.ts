// Kernel parameters under /proc/sys, optionally inside another network namespace.
//
// /proc/sys/net shows the namespace of whoever *opens* the file, so in a namespace the whole
// open-read/write-close happens inside runIn with *Sync calls: the threadpool would open it in the
// original namespace and silently read or change the host's value.
import { readFileSync, writeFileSync } from 'node:fs';
import { errnoKind } from './base/errno.js';
import { type ErrorKind, NetbootError } from './base/errors.js';
import { runIn } from './netns.js';
import type { NetnsRef } from './netns.js';

export interface SysctlOptions {
  /** Namespace whose value to read/write; default: the caller's. */
  netns?: NetnsRef;
}

/**
 * A sysctl read or write failed; `code` is the errno name and `kind` follows it: ENOENT (an unknown
 * key) is `not-found`, EINVAL (a malformed key or a refused value; nothing was written) `invalid`.
 */
export class SysctlError extends NetbootError {
  readonly kind: ErrorKind;
  readonly key: string;
  readonly code: string;
  constructor(key: string, code: string, detail: string) {
    super(`sysctl ${key}: ${detail}`);
    this.kind = errnoKind(code);
    this.key = key;
    this.code = code;
  }
}

/**
 * The /proc/sys path of a key. Dotted keys ('net.ipv4.ip_forward') map dots to '/'; a key that
 * contains '/' is taken as the path form as is ('net/ipv4/conf/eth0.100/forwarding'), which is how
 * sysctl(8) reaches interface names that contain dots.
 */
export function sysctlPath(key: string): string {
  if (typeof key !== 'string' || key === '') throw new SysctlError(String(key), 'EINVAL', 'empty key');
  const parts = key.includes('/') ? key.split('/') : key.split('.');
  if (parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\0'))) {
    throw new SysctlError(key, 'EINVAL', 'malformed key (empty, "." or ".." component)');
  }
  return `/proc/sys/${parts.join('/')}`;
}

function inNetns<T>(opts: SysctlOptions, fn: () => T): T {
  return opts.netns === undefined ? fn() : runIn(opts.netns, fn);
}

function wrap(key: string, action: string, err: unknown): never {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code !== 'string') throw err;
  const why = e.code === 'ENOENT' ? 'no such key' : `${action} failed: ${e.code}`;
  throw new SysctlError(key, e.code, why);
}

/** Reads a value, trailing newline removed — `sysctl -n <key>` (`ip netns exec <ns> sysctl -n <key>`). */
export function sysctlGet(key: string, opts: SysctlOptions = {}): string {
  const path = sysctlPath(key);
  return inNetns(opts, () => {
    try {
      return readFileSync(path, 'utf8').replace(/\n$/, '');
    } catch (err) {
      return wrap(key, 'read', err);
    }
  });
}

/** Writes a value — `sysctl -w <key>=<value>` (`ip netns exec <ns> sysctl -w …`). */
export function sysctlSet(key: string, value: string | number, opts: SysctlOptions = {}): void {
  const path = sysctlPath(key);
  if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
    throw new SysctlError(key, 'EINVAL', `value ${String(value)} is not a string or a finite number`);
  }
  const text = String(value);
  if (text.includes('\n')) throw new SysctlError(key, 'EINVAL', `value ${JSON.stringify(text)} contains a newline`);
  inNetns(opts, () => {
    try {
      writeFileSync(path, text);
    } catch (err) {
      wrap(key, `write of ${JSON.stringify(text)}`, err);
    }
  });
}
