/** Every `Std:JsonGet` path in a definition (or any part of one), in document order. */
export function jsonGetPaths(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) jsonGetPaths(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'Std:JsonGet') out.push((v as { Path: string }).Path);
      jsonGetPaths(v, out);
    }
  }
  return out;
}
