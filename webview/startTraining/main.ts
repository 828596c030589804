/**
 * The Start Training form (webview): every option of a run on one page, filled with defaults for this device and
 * data (src/shared/trainingOptions.ts runDefaults) until the user edits a field, validated as typed with the rules
 * tasks.json and `inheritune train` use, with the estimated tokens per step and per round. The host picks files,
 * describes the reference and the data, and runs the task on Start.
 */
import type {
  DataInfo,
  FormFields,
  FormInit,
  RefInfo,
  StartFormHostMessage,
  StartFormWebviewMessage,
} from '../../src/shared/startTrainingProtocol';
import { checkForm, dataTokens, defaultsFor, splitPaths } from '../../src/shared/startTrainingProtocol';
import { optionByKey, TrainerOptionKey } from '../../src/shared/trainingOptions';
import { button, clear, h } from '../shared/dom';
import { onHostMessage, vscodeApi } from '../shared/vscodeApi';

const api = vscodeApi<StartFormWebviewMessage, undefined>();
const root = document.getElementById('app') as HTMLElement;

type FieldKey = keyof FormFields;
let init: FormInit | undefined;
let ref: RefInfo | undefined;
let data: DataInfo | undefined;
const inputs = new Map<FieldKey, HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>();
const errorEls = new Map<FieldKey, HTMLElement>();
/** Fields the user changed: defaults no longer overwrite them. */
const touched = new Set<FieldKey>();
let estimateEl: HTMLElement;
let refInfoEl: HTMLElement;
let dataInfoEl: HTMLElement;
let submitEl: HTMLButtonElement;
let submitErrorEl: HTMLElement;

const FIXED_DEFAULTS: Partial<Record<FieldKey, string>> = {
  growMode: 'reinherit',
  init: 'inherit',
  valFraction: '0.1',
  preset: 'paper',
  devices: '1',
};

const LABELS: Record<FieldKey, string> = {
  ref: 'Reference checkpoint',
  data: 'Data',
  out: 'Run folder',
  layers: 'n: layers to inherit',
  growBy: 'G: layers per growth',
  growMode: 'Grow mode',
  init: 'Initialisation',
  stepsPerRound: 'T: steps per round',
  maxRounds: 'Max rounds',
  targetValLoss: 'Target val loss',
  seqLen: 'Sequence length',
  batchSize: 'Batch size',
  gradAccum: 'Gradient accumulation',
  lr: 'Learning rate',
  warmupSteps: 'Warmup steps',
  evalInterval: 'Eval interval',
  evalIters: 'Eval iterations',
  valFraction: 'Validation share (text)',
  preset: 'Surgery preset',
  devices: 'Devices (GPUs)',
  strategy: 'Strategy (several processes)',
  kdTemperature: 'KD temperature',
  kdAlpha: 'KD soft-target weight',
  nnodes: 'Machines (nodes)',
  nodeRank: "This machine's rank",
  rdzvEndpoint: 'Rendezvous host:port',
  rdzvId: 'Run id (all machines)',
};

function fields(): FormFields {
  const f: Record<string, string> = {};
  for (const [k, el] of inputs) f[k] = el.value;
  return f as FormFields;
}

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
}

function describeRef(): string {
  if (!ref) return 'A Hugging Face folder (config.json + safetensors) with the reference model and its tokenizer.';
  if (ref.error) return '';
  return `${ref.arch ?? 'model'}, ${ref.numLayers} layers, context ${ref.context}`;
}

function describeData(): string {
  if (!data)
    return 'A folder with train.bin and val.bin, or text: .txt, .md, .jsonl ("text" field) or .parquet files, or folders of them. Text is tokenized with the reference’s tokenizer when the task starts.';
  if (data.error) return '';
  if (data.kind === 'bin') return `token files: ${(data.tokens ?? 0).toLocaleString()} tokens (train + val)`;
  return `text: ${data.files} file${data.files === 1 ? '' : 's'}, ${fmtBytes(data.bytes)}, ~${(dataTokens(data) ?? 0).toLocaleString()} tokens; tokenized into <run folder>/data`;
}

/** Fill the untouched fields with the defaults for this device, reference and data. */
function applyDefaults(): void {
  if (!init) return;
  const d = defaultsFor(init, ref, data);
  for (const [k, el] of inputs) {
    if (touched.has(k)) continue;
    const v = d && k in d ? String((d as unknown as Record<string, number>)[k]) : FIXED_DEFAULTS[k];
    if (v !== undefined) el.value = v;
  }
}

function validate(): void {
  if (!init) return;
  const d = defaultsFor(init, ref, data);
  const c = checkForm(fields(), ref, data, d);
  for (const [k, el] of errorEls) {
    const msg = c.errors[k] ?? c.notes[k] ?? '';
    el.textContent = msg;
    el.className = c.errors[k] ? 'field-msg error' : 'field-msg note';
    inputs.get(k)?.setAttribute('aria-invalid', c.errors[k] ? 'true' : 'false');
  }
  refInfoEl.textContent = describeRef();
  dataInfoEl.textContent = describeData();
  estimateEl.textContent = c.estimate ?? '';
  submitEl.disabled = !c.values;
  root.dataset.valid = c.values ? 'true' : 'false';
}

function field(
  key: FieldKey,
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  extra: (Node | null)[] = [],
  help?: string,
): HTMLElement {
  control.id = `f-${key}`;
  control.dataset.key = key;
  inputs.set(key, control);
  const err = h('div', { class: 'field-msg', 'aria-live': 'polite' });
  errorEls.set(key, err);
  control.addEventListener('input', () => {
    touched.add(key);
    validate();
  });
  return h(
    'div',
    { class: `field field-${key}` },
    h('label', { for: control.id, text: LABELS[key] }),
    h('div', { class: 'control' }, control, ...extra),
    help ? h('div', { class: 'field-help muted', text: help }) : null,
    err,
  );
}

function text(key: FieldKey, placeholder = ''): HTMLInputElement {
  return h('input', { type: 'text', spellcheck: 'false', placeholder });
}

function select(options: readonly string[]): HTMLSelectElement {
  return h('select', {}, ...options.map((o) => h('option', { value: o, text: o })));
}

function optField(key: TrainerOptionKey, placeholder = ''): HTMLElement {
  const o = optionByKey(key);
  const control = o.rule.kind === 'choice' ? select(key === 'init' ? init!.initModes : o.rule.choices) : text(key, placeholder);
  return field(key, control, [], o.help);
}

let refTimer: ReturnType<typeof setTimeout> | undefined;
let dataTimer: ReturnType<typeof setTimeout> | undefined;

function render(): void {
  clear(root);
  inputs.clear();
  errorEls.clear();
  const i = init!;
  const device = i.device === 'cuda' ? `CUDA, ${i.gpus} GPU${i.gpus === 1 ? '' : 's'}` : 'CPU (no CUDA device visible to torch)';

  const refInput = text('ref', 'path/to/reference');
  refInput.value = ref?.path ?? '';
  refInput.addEventListener('input', () => {
    clearTimeout(refTimer);
    refTimer = setTimeout(() => api.post({ type: 'refChanged', path: refInput.value.trim() }), 400);
  });
  const dataInput = h('textarea', { rows: 2, spellcheck: 'false', placeholder: 'a folder, or files (one per line)' });
  dataInput.value = data?.paths.join('\n') ?? '';
  dataInput.addEventListener('input', () => {
    clearTimeout(dataTimer);
    dataTimer = setTimeout(() => api.post({ type: 'dataChanged', paths: splitPaths(dataInput.value) }), 400);
  });
  const outInput = text('out');
  outInput.value = i.out ?? '';
  refInfoEl = h('div', { class: 'field-help muted' });
  dataInfoEl = h('div', { class: 'field-help muted' });
  estimateEl = h('p', { class: 'estimate', 'aria-live': 'polite' });
  submitErrorEl = h('pre', { class: 'submit-error', role: 'alert' });
  submitEl = button('Start Training', {
    icon: 'play',
    cls: 'start',
    onClick: () => {
      submitErrorEl.textContent = '';
      api.post({ type: 'submit', fields: fields() });
    },
  });

  const refField = field('ref', refInput, [button('Browse…', { secondary: true, onClick: () => api.post({ type: 'pickRef' }) })]);
  refField.insertBefore(refInfoEl, refField.lastChild);
  const dataField = field('data', dataInput, [
    button('Folder…', { secondary: true, onClick: () => api.post({ type: 'pickData', as: 'folder' }) }),
    button('Files…', { secondary: true, onClick: () => api.post({ type: 'pickData', as: 'files' }) }),
  ]);
  dataField.insertBefore(dataInfoEl, dataField.lastChild);

  root.append(
    h('h1', { text: 'Start Inheritune Training' }),
    h('p', { class: 'muted python' }, `Python: `, h('span', { class: 'mono', text: i.python }), ` — torch ${i.torch}, ${device}`),
    h(
      'form',
      { class: 'run-form', autocomplete: 'off' },
      h(
        'fieldset',
        {},
        h('legend', { text: 'Model and data' }),
        refField,
        dataField,
        field('out', outInput, [button('Browse…', { secondary: true, onClick: () => api.post({ type: 'pickOut' }) })]),
      ),
      h(
        'fieldset',
        { class: 'grid' },
        h('legend', { text: 'Inheritune' }),
        optField('layers'),
        optField('growBy'),
        optField('growMode'),
        optField('init'),
        optField('maxRounds'),
        optField('targetValLoss', "blank: the reference's own"),
        optField('preset'),
      ),
      h(
        'fieldset',
        { class: 'grid' },
        h('legend', { text: 'Optimisation' }),
        optField('stepsPerRound'),
        optField('seqLen'),
        optField('batchSize'),
        optField('gradAccum'),
        optField('lr'),
        optField('warmupSteps'),
        field('devices', text('devices'), [], 'processes on this machine; more than 1 launches torch.distributed.run'),
      ),
      h(
        'fieldset',
        { class: 'grid' },
        h('legend', { text: 'Evaluation' }),
        optField('evalInterval'),
        optField('evalIters'),
        optField('valFraction'),
      ),
      h(
        'fieldset',
        { class: 'grid' },
        h('legend', { text: 'Parallelism and distillation' }),
        optField('strategy'),
        optField('kdTemperature'),
        optField('kdAlpha'),
      ),
      h(
        'fieldset',
        { class: 'grid' },
        h('legend', { text: 'Several machines (optional)' }),
        field('nnodes', text('nnodes', '1'), [], 'machines in the run (torchrun --nnodes); run the same task on each'),
        field('nodeRank', text('nodeRank', 'assigned'), [], "this machine's rank, 0 on the first (blank: assigned at the rendezvous)"),
        field(
          'rdzvEndpoint',
          text('rdzvEndpoint', 'host:port'),
          [],
          'an address and free port every machine can reach (needed with several machines)',
        ),
        field('rdzvId', text('rdzvId', 'inheritune'), [], 'the same id on every machine of the run'),
      ),
    ),
    estimateEl,
    h('div', { class: 'actions' }, submitEl, button('Cancel', { secondary: true, onClick: () => api.post({ type: 'cancel' }) })),
    submitErrorEl,
  );
  applyDefaults();
  validate();
  root.dataset.ready = 'true';
}

onHostMessage<StartFormHostMessage>((m) => {
  switch (m.type) {
    case 'init':
      init = m.init;
      ref = m.init.ref;
      data = m.init.data;
      render();
      return;
    case 'ref': {
      ref = m.ref;
      const el = inputs.get('ref');
      if (el && document.activeElement !== el) el.value = m.ref.path;
      const out = inputs.get('out');
      if (out && m.out && !touched.has('out')) out.value = m.out;
      applyDefaults();
      validate();
      return;
    }
    case 'data': {
      data = m.data;
      const el = inputs.get('data');
      if (el && document.activeElement !== el) el.value = m.data.paths.join('\n');
      applyDefaults();
      validate();
      return;
    }
    case 'out': {
      const out = inputs.get('out');
      if (out) {
        out.value = m.out;
        touched.add('out');
      }
      validate();
      return;
    }
    case 'submitError':
      submitErrorEl.textContent = m.message;
      return;
    default: {
      const _exhaustive: never = m;
      return _exhaustive;
    }
  }
});

api.post({ type: 'ready' });
