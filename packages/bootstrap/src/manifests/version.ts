// This package's version, for the default image tag. A constant (not a read of package.json) keeps
// rendering free of I/O and the same from source and from the bundle; test/manifests.test.ts fails
// when it and package.json disagree.
export const NETBOOT_VERSION = '0.1.0';
