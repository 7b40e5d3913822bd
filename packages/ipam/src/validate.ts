// Input checks for the identifiers CNI hands us. They end up in file names and KV keys, so anything that
// could escape a directory or collide must be refused before it reaches a store. Rules follow libcni's
// ValidateContainerID / ValidateNetworkName / ValidateInterfaceName.

import { InvalidInputError } from '@netboot/core/errors';
import { GO_SPACE, ifNameProblem } from '@netboot/core/ifname';
import type { Attachment } from './report.js';

/** A caller-supplied value broke a rule; names the field and the value so the caller can fix it. */
export class InvalidArgumentError extends InvalidInputError {
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`invalid ${field} ${JSON.stringify(value)}: ${reason}`);
  }
}

// Alphanumeric first, then alphanumerics, '_', '.', '-': no '/', so no path traversal.
const CNI_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// A file name on Linux is at most 255 bytes; the IDs become file contents and key segments.
const MAX_NAME_LENGTH = 255;
// Go's unicode.IsSpace (the set libcni refuses in interface names): host-local's strings.TrimSpace.
const GO_TRIM = new RegExp(`^[${GO_SPACE}]+|[${GO_SPACE}]+$`, 'gu');

/** Go's strings.TrimSpace: what host-local does to a reservation file before comparing it. */
export function trimSpace(text: string): string {
  return text.replace(GO_TRIM, '');
}

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

/**
 * CNI_IFNAME rules: libcni's ValidateInterfaceName (at most 15 bytes, not "." or "..", no "/", ":" or
 * whitespace) and what the kernel accepts as a link name (`ip link add <name> …`); returns the name.
 */
export function validateIfname(name: unknown): string {
  const problem = ifNameProblem(name);
  if (problem !== undefined) throw new InvalidArgumentError('ifname', name, problem);
  return name as string; // ifNameProblem refuses every non-string
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
