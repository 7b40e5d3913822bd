// The verbs the dispatcher calls.
import type { Verbs } from '../skel.js';
import { add } from './add.js';
import { check } from './check.js';
import { del } from './del.js';
import { gc } from './gc.js';
import { status } from './status.js';
import { version } from './version.js';

export const verbs: Verbs = { add, del, check, status, gc, version };
