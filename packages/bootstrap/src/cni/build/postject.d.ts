// postject ships no types; this is the one function `netboot cni build` calls.
declare module 'postject' {
  export function inject(
    file: string,
    resourceName: string,
    resourceData: Buffer,
    options: { sentinelFuse: string; machoSegmentName?: string; overwrite?: boolean },
  ): Promise<void>;
}
