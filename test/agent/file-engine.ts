/**
 * An EnginePort that does real, cheap work instead of LVM: a backup writes a small archive,
 * a manifest and a SHA256SUMS file under `<dest>/<lv>/<backupId>/`, holds a run directory
 * `<run root>/<runId>/` (CLB_RUN_DIR) while it works (the leftover a crash leaves), and appends
 * `<lv> <runId> <pid>` to `<dest>/runs.log` when it completes. Verify recomputes the
 * checksums; reap removes leftover run directories. A backup whose request carries consistency
 * steps runs them for real (SSH into the instance, mysqldump, fsfreeze around the pretend
 * snapshot) and records them in the manifest as the engine does.
 *
 * Knobs (environment): CLB_FAKE_WORK_MS (default 20) per backup; volumes whose LV name
 * contains `slow` take CLB_FAKE_SLOW_MS (default 30000) on their first attempt; `flaky`
 * ones fail their first attempt (DEST_FULL, retryable), `broken` ones always
 * (LV_NOT_FOUND, permanent).
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type {
  EngineBackupRequest,
  EngineBackupResult,
  EnginePort,
  EngineReapResult,
  EngineRestoreResult,
  EngineVerifyResult,
} from '../../src/agent/engine-port.js';
import { ConsistencySteps, consistencyFields } from '../../src/consistency/consistency-steps.js';
import {
  commitBackupDir,
  discardBackupDir,
  prepareBackupDir,
  type BackupDir,
} from '../../src/engine/backup-dir.js';
import {
  commitPartial,
  destError,
  partialPath,
  writeFileDurably,
} from '../../src/engine/durable-file.js';
import { createRunDir, runRoot } from '../../src/engine/run-dir.js';
import { AppError } from '../../src/errors.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  MANIFEST_VERSION_INCREMENTAL,
  type Manifest,
  type ManifestChain,
} from '../../src/engine/manifest.js';

/** The run root the agent process set from its settings ([DEFAULT] run_dir, CLB_RUN_DIR). */
function runDirRoot(): string {
  return runRoot();
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new AppError('ABORTED', 'aborted'));
      return;
    }
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    function onAbort(): void {
      clearTimeout(t);
      reject(new AppError('ABORTED', 'aborted', { cause: signal.reason }));
    }
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function backupIdNow(): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(4).toString('hex')}`;
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** The archive's bytes as the engine stores a file: `.partial`, fsync, rename. */
async function writeBufferDurably(dir: string, name: string, data: Buffer): Promise<void> {
  try {
    await writeFile(partialPath(dir, name), data, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    throw destError(err, name);
  }
  await commitPartial(dir, name);
}

export class FileEngine implements EnginePort {
  async backup(req: EngineBackupRequest): Promise<EngineBackupResult> {
    // Failures on purpose: `flaky` volumes fail their first attempt with a retryable
    // error, `broken` ones always fail with a permanent one.
    if (req.lv.includes('flaky') && /-a1-/.test(req.runId)) {
      throw new AppError('DEST_FULL', 'no space left on the destination (test)');
    }
    if (req.lv.includes('broken')) {
      throw new AppError('LV_NOT_FOUND', `${req.vg}/${req.lv} does not exist (test)`);
    }
    // The engine's own run directory and destination handling (work directory
    // `<backupId>.partial`, durable files, rename at the end, discard on failure): a
    // destination that refuses, fills or blocks fails or stalls here as it does in the engine.
    const runDir = await createRunDir(req.runId);
    const slow = req.lv.includes('slow') && /-a1-/.test(req.runId);
    const ms = Number(
      slow ? (process.env['CLB_FAKE_SLOW_MS'] ?? 30_000) : (process.env['CLB_FAKE_WORK_MS'] ?? 20),
    );
    const backupId = backupIdNow();
    let target: BackupDir | null = null;
    let steps: ConsistencySteps | null = null;
    try {
      target = await prepareBackupDir(req.dest, req.lv, backupId, req.runId);
      const dir = target.workDir;
      // The real consistency steps (SSH, mysqldump, fsfreeze) when the agent asks for them;
      // only the snapshot they surround is pretend.
      steps =
        req.consistency === undefined
          ? null
          : new ConsistencySteps(req.consistency, {
              workDir: dir,
              runDir,
              compression: { level: 3, threads: 1 },
              logger: req.logger,
              signal: req.signal,
            });
      await steps?.dump();
      req.onProgress?.({ phase: 'snapshot', bytesDone: 0, bytesTotal: null });
      if (steps === null) await wait(ms, req.signal);
      else await steps.aroundSnapshot(() => wait(ms, req.signal));
      req.onProgress?.({ phase: 'archive', bytesDone: 0, bytesTotal: 4096 });
      const data = Buffer.from(`${req.vg}/${req.lv} ${req.runId}\n`.repeat(64));
      await writeBufferDurably(dir, 'p0.tar.zst', data);
      const archive = {
        file: 'p0.tar.zst',
        bytes: data.length,
        sha256: sha256(data),
        format: 'tar+zstd' as const,
        uncompressedBytes: data.length * 4,
      };
      const now = new Date().toISOString();
      // Chains as the engine records them: level and parent from the parent's manifest.
      const parent =
        req.level?.kind === 'on'
          ? (JSON.parse(await readFile(req.level.manifestPath, 'utf8')) as Manifest)
          : null;
      const identity = { sizeBytes: 1 << 30, table: null, filesystems: [] };
      const chain: ManifestChain =
        parent === null
          ? {
              level: 0,
              parentId: null,
              rootId: backupId,
              fullReason: req.level?.kind === 'full' ? req.level.reason : 'full backup asked',
              identity,
            }
          : {
              level: (parent.chain?.level ?? 0) + 1,
              parentId: parent.backupId,
              rootId: parent.chain?.rootId ?? parent.backupId,
              fullReason: null,
              identity,
            };
      const manifest: Manifest = {
        format: MANIFEST_FORMAT,
        version: chain.level > 0 ? MANIFEST_VERSION_INCREMENTAL : MANIFEST_VERSION,
        chain,
        backupId,
        startedAt: now,
        finishedAt: now,
        source: {
          kind: 'lv',
          device: `/dev/${req.vg}/clb-${req.runId}`,
          vg: req.vg,
          lv: req.lv,
          volumeId: req.lv.replace(/^volume-/, ''),
          lvType: 'thick',
          sizeBytes: 1 << 30,
        },
        snapshot: {
          name: `clb-${req.runId}`,
          kind: 'thick',
          sizeBytes: 1 << 28,
          peakPercent: 1.5,
          tags: ['cinder_lvm_backup'],
        },
        partitionTable: { label: 'none', sfdiskDump: null },
        head: null,
        partitions: [
          {
            number: null,
            startSector: 0,
            sizeBytes: 1 << 30,
            fsType: 'ext4',
            uuid: null,
            label: null,
            partUuid: null,
            partType: null,
            action: 'archived',
            archive,
          },
        ],
        ...consistencyFields(steps, 'crash'),
        compression: { program: 'zstd', level: 3, threads: 1 },
        excludes: req.excludes ?? [],
        tools: { engine: 'file-engine (test)' },
        timings: { total: ms },
        totals: {
          archivedBytes: archive.uncompressedBytes,
          storedBytes: data.length,
          fileCount: 1,
        },
        ...(req.catalog ? { catalog: req.catalog } : {}),
      };
      await writeFileDurably(dir, 'manifest.json', JSON.stringify(manifest, null, 2));
      const dump = steps?.storedDump() ?? null;
      await writeFileDurably(
        dir,
        'SHA256SUMS',
        `${archive.sha256}  p0.tar.zst\n` + (dump === null ? '' : `${dump.sha256}  ${dump.file}\n`),
      );
      await commitBackupDir(target);
      await appendFile(path.join(req.dest, 'runs.log'), `${req.lv} ${req.runId} ${process.pid}\n`);
      const manifestPath = path.join(target.finalDir, 'manifest.json');
      return { manifestPath, backupDir: target.finalDir, manifest };
    } catch (err) {
      if (target !== null) await discardBackupDir(target);
      throw err;
    } finally {
      // The cleanup a real backup does on its way out (success, failure or abort).
      await steps?.cleanup();
      await rm(runDir, { recursive: true, force: true });
    }
  }

  async verify(req: { manifestPath: string }): Promise<EngineVerifyResult> {
    const manifest = JSON.parse(await readFile(req.manifestPath, 'utf8')) as Manifest;
    const dir = path.dirname(req.manifestPath);
    const archives = await Promise.all(
      manifest.partitions
        .flatMap((p) => (p.archive === undefined ? [] : [p.archive]))
        .map(async (a) => {
          const got = await readFile(path.join(dir, a.file)).then(sha256, () => 'missing');
          return got === a.sha256
            ? { file: a.file, ok: true }
            : { file: a.file, ok: false, error: `sha256 ${got}` };
        }),
    );
    return { ok: archives.every((a) => a.ok), archives };
  }

  restore(): Promise<EngineRestoreResult> {
    return Promise.reject(
      new AppError('INTERNAL', 'the file engine of the queue tests cannot restore'),
    );
  }

  async reap(): Promise<EngineReapResult> {
    const root = runDirRoot();
    const names = await readdir(root).catch(() => [] as string[]);
    const removed: EngineReapResult['removed'] = [];
    for (const name of names) {
      await rm(path.join(root, name), { recursive: true, force: true });
      removed.push({ kind: 'dir', name: path.join(root, name) });
    }
    return { removed, errors: [] };
  }
}
