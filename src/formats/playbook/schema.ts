import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { MAX_WAIT_SECONDS } from '../../core/async.js';

/**
 * The playbook and inventory formats, as TypeBox schemas: the TypeScript types below and the JSON
 * Schemas in schemas/ (written by `npm run schemas`) come from this one source.
 */

const Identifier = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' });
const Vars = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), Type.Unknown(), {
  description: 'Variables, available in templates as {{ name }}.',
});

export const RetriesSchema = Type.Object(
  {
    count: Type.Integer({ minimum: 0, maximum: 100, description: 'Extra attempts after the first failure.' }),
    delay: Type.Optional(Type.Number({ minimum: 0, description: 'Seconds before the first retry (default 1).' })),
    backoff: Type.Optional(Type.Number({ minimum: 1, description: 'Factor the delay grows by after each retry (default 2).' })),
  },
  { additionalProperties: false },
);

const TaskCommon = {
  name: Type.String({ minLength: 1, description: 'What the task does, shown in the task list and the journal.' }),
  type: Type.String({ minLength: 1, description: 'The task type (see docs/tasks.md).' }),
  with: Type.Optional(
    Type.Union([
      Type.Record(Type.String(), Type.Unknown(), { description: "The task type's params; templated." }),
      Type.String({ pattern: '^\\s*\\{\\{.*\\}\\}\\s*$', description: 'A template that renders to the params mapping, e.g. "{{ etcd_restart }}".' }),
    ]),
  ),
  when: Type.Optional(Type.String({ description: 'Run only when this expression is true (per host; per item with `loop`).' })),
  loop: Type.Optional(
    Type.Union([Type.Array(Type.Unknown()), Type.String({ pattern: '^\\s*\\{\\{.*\\}\\}\\s*$' })], {
      description: 'Run the task once per item of this list (a list, or a template rendering to one), in order, within one step.',
    }),
  ),
  loopVar: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'The name of the current item (default `item`).' })),
  delegateTo: Type.Optional(
    Type.String({ minLength: 1, description: "Run on this inventory host (or `local`) instead, with the current host's vars (e.g. an API check from a control-plane host for a worker)." }),
  ),
  register: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: "Store the task's output under this variable name." })),
  retries: Type.Optional(RetriesSchema),
  timeout: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: MAX_WAIT_SECONDS, description: 'Seconds before the task is failed (default 600; at most a day).' })),
  ignoreErrors: Type.Optional(Type.Boolean({ description: 'A failure is reported but does not fail the stage.' })),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
};

/** A task of a rollback list: like a task, without a rollback list of its own. */
export const RollbackTaskSchema = Type.Object(TaskCommon, { additionalProperties: false });

export const TaskSchema = Type.Object(
  {
    ...TaskCommon,
    rollback: Type.Optional(
      Type.Array(RollbackTaskSchema, { description: 'Tasks that undo this one on this host when its stage fails.' }),
    ),
  },
  { additionalProperties: false },
);

export const ProbeSchema = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    with: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

export const StageSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', description: 'Unique; used by --start-at and the journal.' }),
    description: Type.Optional(Type.String()),
    hosts: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
      description: 'A group, a host, a pattern (`cp*`, `etcd:!cp1`), a list of them, or `local`.',
    }),
    serial: Type.Optional(
      Type.Union([
        Type.Integer({ minimum: 1 }),
        Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?%$' }),
        Type.String({ pattern: '^\\s*\\{\\{.*\\}\\}\\s*$', description: 'A template rendering to a count or a percentage.' }),
        Type.Array(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?%$' })]), { minItems: 1 }),
      ], { description: 'Batch size: a number, a percentage, or a list of sizes (the last repeats).' }),
    ),
    order: Type.Optional(Type.Union([Type.Literal('inventory'), Type.Literal('reverse'), Type.Literal('leader-last')])),
    strategy: Type.Optional(
      Type.Union([Type.Literal('linear'), Type.Literal('free')], {
        description:
          'linear (default): each task runs on every host of the batch before the next task starts. free: each host of the batch goes through the tasks at its own pace (for independent hosts; a task must not read what another host registers in this stage).',
      }),
    ),
    leader: Type.Optional(ProbeSchema),
    maxFailPercentage: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    runOnce: Type.Optional(Type.Boolean({ description: 'Run the tasks on the first host only.' })),
    when: Type.Optional(Type.String()),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    vars: Type.Optional(Vars),
    tasks: Type.Array(TaskSchema, { minItems: 1 }),
    rollback: Type.Optional(Type.Array(RollbackTaskSchema, { description: 'Run on each batch of the stage hosts, newest first, after the completed tasks of that batch are undone.' })),
  },
  { additionalProperties: false },
);

export const StageImportSchema = Type.Object(
  {
    import: Type.String({ minLength: 1, description: 'A stage file (kind: Stages), relative to this file.' }),
    vars: Type.Optional(Vars),
    when: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const PlaybookSchema = Type.Object(
  {
    apiVersion: Type.Literal('kcarun/v1'),
    kind: Type.Literal('Playbook'),
    metadata: Type.Object(
      {
        name: Type.String({ minLength: 1 }),
        version: Type.String({ pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+([-+][0-9A-Za-z.-]+)?$', description: 'Semantic version of the playbook.' }),
        description: Type.Optional(Type.String()),
      },
      { additionalProperties: false },
    ),
    vars: Type.Optional(Vars),
    varsFiles: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description:
          'YAML files of vars, relative to the playbook, e.g. layouts/{{ layout }}.yaml (templated with playbook, inventory and -e vars). Later files win; they override the playbook vars and are overridden by the inventory.',
      }),
    ),
    stages: Type.Array(Type.Union([StageSchema, StageImportSchema]), { minItems: 1 }),
  },
  { additionalProperties: false, $id: 'https://kcarun.dev/schemas/playbook.schema.json' },
);

/** A file of stages that playbooks import (`- import: stages/x.yaml`). */
export const StagesFileSchema = Type.Object(
  {
    apiVersion: Type.Literal('kcarun/v1'),
    kind: Type.Literal('Stages'),
    vars: Type.Optional(Vars),
    stages: Type.Array(Type.Union([StageSchema, StageImportSchema]), { minItems: 1 }),
  },
  { additionalProperties: false, $id: 'https://kcarun.dev/schemas/stages.schema.json' },
);

const SshSettingsSchema = Type.Object(
  {
    user: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    identityFile: Type.Optional(Type.String()),
    identityPassphraseEnv: Type.Optional(Identifier),
    knownHostsFile: Type.Optional(Type.String()),
    proxyJump: Type.Optional(Type.String()),
    connectTimeoutSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    useAgent: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const InventoryHostSchema = Type.Object(
  {
    address: Type.Optional(Type.String({ minLength: 1, description: 'IP or DNS name (default: the host name).' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    user: Type.Optional(Type.String({ minLength: 1 })),
    connection: Type.Optional(
      Type.Union([Type.Literal('ssh'), Type.Literal('local')], { description: '`local`: this host is the operator machine; no SSH.' }),
    ),
    ssh: Type.Optional(SshSettingsSchema),
    become: Type.Optional(Type.Boolean()),
    becomePasswordEnv: Type.Optional(Identifier),
    vars: Type.Optional(Vars),
  },
  { additionalProperties: false },
);

export const InventoryGroupSchema = Type.Object(
  {
    hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    children: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    vars: Type.Optional(Vars),
  },
  { additionalProperties: false },
);

export const InventorySchema = Type.Object(
  {
    apiVersion: Type.Literal('kcarun/v1'),
    kind: Type.Literal('Inventory'),
    defaults: Type.Optional(
      Type.Object(
        {
          ssh: Type.Optional(SshSettingsSchema),
          become: Type.Optional(Type.Boolean()),
          becomePasswordEnv: Type.Optional(Identifier),
        },
        { additionalProperties: false },
      ),
    ),
    hosts: Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }), Type.Union([InventoryHostSchema, Type.Null()])),
    groups: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$' }), Type.Union([InventoryGroupSchema, Type.Null()])),
    ),
    vars: Type.Optional(Vars),
  },
  { additionalProperties: false, $id: 'https://kcarun.dev/schemas/inventory.schema.json' },
);

export type Retries = Static<typeof RetriesSchema>;
export type TaskSpec = Static<typeof TaskSchema>;
export type RollbackTaskSpec = Static<typeof RollbackTaskSchema>;
export type ProbeSpec = Static<typeof ProbeSchema>;
export type StageSpec = Static<typeof StageSchema>;
export type StageImportSpec = Static<typeof StageImportSchema>;
export type PlaybookSpec = Static<typeof PlaybookSchema>;
export type StagesFileSpec = Static<typeof StagesFileSchema>;
export type InventorySpec = Static<typeof InventorySchema>;
export type InventoryHostSpec = Static<typeof InventoryHostSchema>;
export type InventoryGroupSpec = Static<typeof InventoryGroupSchema>;

export const documentSchemas: Record<string, TSchema> = {
  'playbook.schema.json': PlaybookSchema,
  'stages.schema.json': StagesFileSchema,
  'inventory.schema.json': InventorySchema,
};
