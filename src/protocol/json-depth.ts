/**
 * How deeply JSON from users may nest. JSON.parse copes with any depth, but JSON.stringify (of a reply, of a
 * stored record, of a body Sluice re-serialises) recurses and overflows the stack around 10,000 levels: a value
 * that cannot be written back is refused where it comes in. No SDK payload comes near this.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether JSON text nests arrays and objects deeper than `max`, found by scanning the text (no recursion, no
 * parse), so it is safe on any input; brackets inside strings do not count. Invalid JSON is left to JSON.parse.
 */
export function exceedsJsonDepth(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}

/** JSON.parse that returns undefined for invalid or too deeply nested text, for content only shown, never refused. */
export function parseJsonBounded(text: string, max = MAX_JSON_DEPTH): unknown {
  if (exceedsJsonDepth(text, max)) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
