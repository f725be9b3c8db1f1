/**
 * Names for prepared statements, one per distinct SQL text: the server parses and plans a statement once per
 * connection instead of on every call. Statements built from filters are few (one per combination of filters in
 * use); past `max` distinct texts, new ones run unnamed rather than grow every connection's cache for ever.
 */
export class StatementNames {
  private readonly names = new Map<string, string>();

  constructor(private readonly max = 500) {}

  of(text: string): string | undefined {
    let name = this.names.get(text);
    if (name === undefined && this.names.size < this.max) {
      name = `sluice_${this.names.size + 1}`;
      this.names.set(text, name);
    }
    return name;
  }
}
