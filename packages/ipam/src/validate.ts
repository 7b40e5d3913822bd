// Input checks for the identifiers CNI hands us. They end up in file names and KV keys, so anything that
// could escape a directory or collide must be refused before it reaches a store. Rules follow libcni's
// ValidateContainerID / ValidateNetworkName / ValidateInterfaceName.

import type { Attachment } from './report.js';

/** A caller-supplied value broke a rule; names the field and the value so the caller can fix it. */
export class InvalidArgumentError extends Error {
  constructor(readonly field: string, readonly value: unknown, reason: string) {
    super(`invalid ${field} ${JSON.stringify(value)}: ${reason}`);
    this.name = 'InvalidArgumentError';
  }
}

// Alphanumeric first, then alphanumerics, '_', '.', '-': no '/', so no path traversal.
const CNI_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// A file name on Linux is at most 255 bytes; the IDs become file contents and key segments.
const MAX_NAME_LENGTH = 255;
// IFNAMSIZ is 16 including the terminating NUL.
const MAX_IFNAME_LENGTH = 15;

function validateCniName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new InvalidArgumentError(field, value, 'must be a non-empty string');
  if (value.length > MAX_NAME_LENGTH) {
    throw new InvalidArgumentError(field, value, `must be at most ${MAX_NAME_LENGTH} characters`);
  }
  if (!CNI_NAME.test(value)) {
    throw new InvalidArgumentError(field, value, 'must start with a letter or digit and contain only letters, digits, "_", "." and "-"');
  }
  return value;
}

/** CNI_CONTAINERID rules; returns the id. */
export function validateContainerId(id: unknown): string {
  return validateCniName('containerId', id);
}

/** CNI network `name` rules; returns the name. */
export function validateNetworkName(name: unknown): string {
  return validateCniName('network name', name);
}

/** CNI_IFNAME rules (what the kernel accepts as a link name); returns the name. */
export function validateIfname(name: unknown): string {
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError('ifname', name, 'must be a non-empty string');
  if (name.length > MAX_IFNAME_LENGTH) {
    throw new InvalidArgumentError('ifname', name, `must be at most ${MAX_IFNAME_LENGTH} characters`);
  }
  if (name === '.' || name === '..') throw new InvalidArgumentError('ifname', name, 'must not be "." or ".."');
  if (/[/:\s]/u.test(name)) throw new InvalidArgumentError('ifname', name, 'must not contain "/", ":" or whitespace');
  return name;
}

/** Checks both halves of a CNI attachment; returns a copy holding only them. */
export function validateAttachment(a: Attachment): Attachment {
  return { containerId: validateContainerId(a.containerId), ifname: validateIfname(a.ifname) };
}

/** One string per (containerId, ifname), for sets and maps of attachments. */
export function attachmentKey(a: Attachment): string {
  return `${a.containerId}\0${a.ifname}`;
}

/** Node names (Kubernetes node names are DNS subdomains, which these rules admit); returns the name. */
export function validateNodeName(name: unknown): string {
  return validateCniName('node name', name);
}
