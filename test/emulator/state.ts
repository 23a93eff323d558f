/**
 * The emulated cloud's data: projects, users, application credentials, tokens, volumes and
 * servers. Plain in-memory records; the HTTP layers render them in the wire shapes of
 * docs/openstack-wire.md and the control API mutates them.
 */
import { randomBytes, randomUUID } from 'node:crypto';

/** A Keystone project (the emulator keeps one domain, `default`/`Default`). */
export interface EmuProject {
  id: string;
  name: string;
  domainId: string;
}

/** A Keystone user with its role names per project id. */
export interface EmuUser {
  id: string;
  name: string;
  domainId: string;
  password: string;
  roles: Record<string, string[]>;
}

/** An application credential; its scope is fixed to `projectId`. */
export interface EmuAppCredential {
  id: string;
  name: string;
  secret: string;
  userId: string;
  projectId: string;
  roles: string[];
}

/** An issued Keystone token. */
export interface EmuToken {
  id: string;
  userId: string;
  projectId: string | null;
  roles: string[];
  methods: string[];
  issuedAt: Date;
  expiresAt: Date;
  appCredentialId: string | null;
}

/** One attachment of a volume to a Nova server. */
export interface EmuAttachment {
  attachmentId: string;
  serverId: string;
  hostName: string;
  device: string;
  attachedAt: Date;
  mode: 'rw' | 'ro';
}

/** A Cinder volume as the emulator stores it (the DB row, not a view). */
export interface EmuVolume {
  id: string;
  name: string | null;
  description: string | null;
  projectId: string;
  userId: string;
  status: string;
  size: number;
  availabilityZone: string;
  bootable: boolean;
  volumeTypeId: string;
  volumeTypeName: string;
  metadata: Record<string, string>;
  attachments: EmuAttachment[];
  /** `host@backend#pool`, null before scheduling. */
  host: string | null;
  /** Set after a generic migration: the LV is then named from it (wire reference F). */
  nameId: string | null;
  migrationStatus: string | null;
  snapshotId: string | null;
  sourceVolid: string | null;
  multiattach: boolean;
  createdAt: Date;
  updatedAt: Date | null;
  launchedAt: Date | null;
  /** Monotonic creation counter: a tie-breaker that keeps sort order stable. */
  seq: number;
}

/** A Nova server, only what `GET /v2.1/servers/{id}` needs. */
export interface EmuServer {
  id: string;
  name: string;
  projectId: string;
  status: string;
  addresses: Record<
    string,
    {
      version: 4 | 6;
      addr: string;
      'OS-EXT-IPS:type': 'fixed' | 'floating';
      'OS-EXT-IPS-MAC:mac_addr': string;
    }[]
  >;
}

/** A Cinder volume type. */
export interface EmuVolumeType {
  id: string;
  name: string;
}

/** Keystone ids are 32 hex characters (uuid4().hex). */
export function keystoneId(): string {
  return randomBytes(16).toString('hex');
}

/** The whole emulated cloud. */
export class EmulatorState {
  readonly projects = new Map<string, EmuProject>();
  readonly users = new Map<string, EmuUser>();
  readonly appCredentials = new Map<string, EmuAppCredential>();
  readonly tokens = new Map<string, EmuToken>();
  readonly volumes = new Map<string, EmuVolume>();
  readonly servers = new Map<string, EmuServer>();
  readonly volumeTypes = new Map<string, EmuVolumeType>();
  tokenLifetimeSeconds = 3600;
  private seq = 0;
  private clockOffsetMs = 0;

  /** The emulator's "now"; tests can move it forward to expire tokens. */
  now(): Date {
    return new Date(Date.now() + this.clockOffsetMs);
  }

  advanceClock(ms: number): void {
    this.clockOffsetMs += ms;
  }

  nextSeq(): number {
    this.seq += 1;
    return this.seq;
  }

  addProject(name: string, id = keystoneId()): EmuProject {
    const p = { id, name, domainId: 'default' };
    this.projects.set(id, p);
    return p;
  }

  addUser(name: string, password: string, roles: Record<string, string[]>): EmuUser {
    const u = { id: keystoneId(), name, domainId: 'default', password, roles };
    this.users.set(u.id, u);
    return u;
  }

  addAppCredential(
    user: EmuUser,
    projectId: string,
    name: string,
    secret: string,
  ): EmuAppCredential {
    const ac = {
      id: keystoneId(),
      name,
      secret,
      userId: user.id,
      projectId,
      roles: user.roles[projectId] ?? [],
    };
    this.appCredentials.set(ac.id, ac);
    return ac;
  }

  volumeType(name: string): EmuVolumeType {
    for (const t of this.volumeTypes.values()) if (t.name === name) return t;
    const t = { id: randomUUID(), name };
    this.volumeTypes.set(t.id, t);
    return t;
  }

  /** A token is valid while it exists and has not reached `expires_at`. */
  validToken(id: string | undefined): EmuToken | null {
    if (id === undefined) return null;
    const t = this.tokens.get(id);
    if (t === undefined) return null;
    return t.expiresAt.getTime() > this.now().getTime() ? t : null;
  }

  findProject(ref: { id?: string; name?: string; domainId?: string }): EmuProject | null {
    if (ref.id !== undefined) return this.projects.get(ref.id) ?? null;
    for (const p of this.projects.values()) {
      if (p.name === ref.name && (ref.domainId === undefined || p.domainId === ref.domainId)) {
        return p;
      }
    }
    return null;
  }

  findUser(ref: { id?: string; name?: string; domainId?: string }): EmuUser | null {
    if (ref.id !== undefined) return this.users.get(ref.id) ?? null;
    for (const u of this.users.values()) {
      if (u.name === ref.name && (ref.domainId === undefined || u.domainId === ref.domainId)) {
        return u;
      }
    }
    return null;
  }
}
