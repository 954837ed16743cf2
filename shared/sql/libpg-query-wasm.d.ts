// The Emscripten factory inside libpg-query (its own wrapper keeps one instance for the process; engine.ts renews).

declare module 'libpg-query/wasm/libpg-query.js' {
  export interface PgQueryWasm {
    _malloc(size: number): number;
    _free(pointer: number): void;
    lengthBytesUTF8(text: string): number;
    stringToUTF8(text: string, pointer: number, size: number): void;
    UTF8ToString(pointer: number): string;
    getValue(pointer: number, type: 'i32'): number;
    _wasm_parse_query_raw(query: number): number;
    _wasm_free_parse_result(result: number): void;
    _wasm_fingerprint(query: number): number;
    _wasm_normalize_query(query: number): number;
    _wasm_scan(query: number): number;
    _wasm_free_string(result: number): void;
  }
  const createPgQuery: (options?: Record<string, unknown>) => Promise<PgQueryWasm>;
  export default createPgQuery;
}
