// Copies non-TypeScript assets (SQL migrations) next to the compiled code.
import { cpSync, existsSync } from 'node:fs';

if (existsSync('src/db/migrations')) {
  cpSync('src/db/migrations', 'dist/db/migrations', { recursive: true });
}
