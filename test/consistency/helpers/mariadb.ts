/**
 * A throwaway database on the local MariaDB (127.0.0.1:3306, root without a password):
 * three tables of a few thousand rows, a trigger and a routine, a dump user whose password
 * lives only in an option file, a writer that commits continuously, and checksums.
 * Everything goes through the real `mysql` client.
 */
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../../src/exec/run-command.js';

const ROOT = ['-h', '127.0.0.1', '-P', '3306', '-uroot', '--batch', '--skip-column-names'];

/** Runs SQL as root (optionally in `db`) and returns the tab-separated output. */
export async function sql(text: string, db?: string): Promise<string> {
  try {
    return (
      await runCommand('mysql', [...ROOT, ...(db ? [db] : [])], { input: text, timeoutMs: 120_000 })
    ).stdout;
  } catch (err) {
    throw new Error(`MariaDB at 127.0.0.1:3306 refused the test SQL: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

export interface TestDatabase {
  name: string;
  user: string;
  password: string;
  /** Option file with the dump user's credentials ([client] section). */
  optionFile: string;
  drop(): Promise<void>;
}

export const TABLES = ['orders', 'items', 'notes'] as const;

/** Creates the database, its rows, trigger and routine, and a dump user. */
export async function createTestDatabase(dir: string, rows = 3000): Promise<TestDatabase> {
  const id = randomBytes(4).toString('hex');
  const name = `clb_ct_${id}`;
  const user = `clb_dump_${id}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  await sql(`CREATE DATABASE ${name};`);
  const values = (table: string): string =>
    Array.from({ length: rows }, (_, i) => `(0, '${table}-${i}-${'x'.repeat(i % 97)}')`).join(',');
  await sql(`
    CREATE USER '${user}'@'localhost' IDENTIFIED BY '${password}';
    CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}';
    GRANT ALL ON ${name}.* TO '${user}'@'localhost';
    GRANT ALL ON ${name}.* TO '${user}'@'127.0.0.1';
  `);
  await sql(
    `
    CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, seq INT NOT NULL, payload VARCHAR(200) NOT NULL) ENGINE=InnoDB;
    CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, seq INT NOT NULL, payload VARCHAR(200) NOT NULL) ENGINE=InnoDB;
    CREATE TABLE notes (id INT AUTO_INCREMENT PRIMARY KEY, seq INT NOT NULL, payload VARCHAR(200) NOT NULL) ENGINE=InnoDB;
    CREATE TABLE order_count (id INT PRIMARY KEY, n INT NOT NULL) ENGINE=InnoDB;
    INSERT INTO order_count VALUES (1, 0);
    CREATE TRIGGER count_orders AFTER INSERT ON orders FOR EACH ROW UPDATE order_count SET n = n + 1 WHERE id = 1;
    CREATE DEFINER = '${user}'@'127.0.0.1' PROCEDURE add_item(IN s INT, IN p VARCHAR(200)) INSERT INTO items (seq, payload) VALUES (s, p);
    INSERT INTO orders (seq, payload) VALUES ${values('orders')};
    INSERT INTO items (seq, payload) VALUES ${values('items')};
    INSERT INTO notes (seq, payload) VALUES ${values('notes')};
    `,
    name,
  );
  const optionFile = join(dir, `my-${id}.cnf`);
  await writeFile(
    optionFile,
    `[client]\nhost=127.0.0.1\nport=3306\nuser=${user}\npassword=${password}\n`,
    { mode: 0o600 },
  );
  return {
    name,
    user,
    password,
    optionFile,
    drop: async () => {
      await sql(
        `DROP DATABASE IF EXISTS ${name}; DROP USER IF EXISTS '${user}'@'localhost'; DROP USER IF EXISTS '${user}'@'127.0.0.1';`,
      );
    },
  };
}

/**
 * Commits transactions continuously, each inserting one row with the next sequence number
 * into every table (orders through its trigger, items through the routine), until stopped.
 */
export function startWriter(db: string): { stop(): Promise<number>; committed(): number } {
  const child: ResultPromise = execa('mysql', [...ROOT, '--unbuffered', db], {
    stdin: 'pipe',
    reject: false,
  });
  let seq = 0;
  let running = true;
  let acked = 0;
  child.stdout?.on('data', (d: Buffer) => {
    acked += (d.toString().match(/^ok$/gm) ?? []).length;
  });
  const loop = (async () => {
    while (running) {
      seq += 1;
      const s = seq;
      const ok = child.stdin?.write(
        `START TRANSACTION; INSERT INTO orders (seq, payload) VALUES (${s}, 'w${s}'); CALL add_item(${s}, 'w${s}'); INSERT INTO notes (seq, payload) VALUES (${s}, 'w${s}'); COMMIT; SELECT 'ok';\n`,
      );
      if (!ok) await new Promise((r) => child.stdin?.once('drain', r));
      if (seq - acked > 50) await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    committed: () => acked,
    stop: async () => {
      running = false;
      await loop;
      child.stdin?.end();
      await child;
      return seq;
    },
  };
}

/** Row count and an order-independent checksum of each table's rows with seq ≤ `upTo`. */
export async function tableChecksums(db: string, upTo: number): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of TABLES) {
    out[t] = (
      await sql(
        `SELECT COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT_WS('#', id, seq, payload))), 0) FROM ${t} WHERE seq <= ${upTo};`,
        db,
      )
    ).trim();
  }
  return out;
}
