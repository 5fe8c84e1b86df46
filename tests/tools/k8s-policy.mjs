// The project's deployment policy, checked on the objects of one rendered overlay
// (validate-k8s.mjs). Returns a list of problems, each naming the object and what is wrong.
//
// Aurora workloads (Deployments and StatefulSets):
//  - labels app.kubernetes.io/{name: aurora, part-of: aurora-network, component}, profile
//    nodes also aurora.network/organization; the selector picks the template's labels;
//  - the command is ["aurora", "serve"] or ["aurora", "gateway"] and every option is an args
//    entry "--flag=value" (or a bare "--flag"), no environment: tests run the same processes;
//  - every container: requests and limits for cpu and memory; runAsNonRoot, runAsUser 10001,
//    readOnlyRootFilesystem, allowPrivilegeEscalation false, capabilities drop ALL, seccomp
//    RuntimeDefault (container or pod level); /tmp an emptyDir; no service account token;
//  - gRPC components (serve): startup, readiness and liveness probes, native gRPC, on the
//    plaintext port: --probe-listen when the gRPC port is mutual TLS (--tls-cert), else the
//    gRPC port; listen addresses 0.0.0.0 and the named container ports on the same numbers;
//  - the gateway: HTTP probes, /readyz for readiness and /healthz for liveness;
//  - terminationGracePeriodSeconds > --drain-seconds + --grace-seconds (+ a preStop sleep);
//  - a PodDisruptionBudget selects its pods;
// Services select some workload's pods and name ports they have; an HPA targets a workload.

const COMPONENTS = new Set(["directory", "recommender", "gateway", "profile-node", "all-in-one"]);
const SERVE_DEFAULTS = { "drain-seconds": 5, "grace-seconds": 10 };
const GATEWAY_DEFAULTS = { "drain-seconds": 0, "grace-seconds": 10 };

function name(obj) {
  const ns = obj.metadata?.namespace ? `${obj.metadata.namespace}/` : "";
  return `${obj.kind} ${ns}${obj.metadata?.name}`;
}

function matches(selector, labels) {
  if (!selector || !labels) return false;
  const wanted = Object.entries(selector.matchLabels ?? {});
  if (wanted.length === 0 && !(selector.matchExpressions ?? []).length) return false;
  if (!wanted.every(([k, v]) => labels[k] === v)) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

function port(address) {
  const m = /^(.*):([0-9]+)$/.exec(address ?? "");
  return m ? { host: m[1], port: Number(m[2]) } : null;
}

// args -> Map(flag -> value); bare flags map to "". Problems for anything else.
function parseArgs(args, where, problems) {
  const flags = new Map();
  for (const arg of args ?? []) {
    const m = /^--([a-z0-9][a-z0-9-]*)(?:=(.*))?$/s.exec(String(arg));
    if (typeof arg !== "string" || !m) {
      problems.push(`${where}: args entry ${JSON.stringify(arg)} is not --flag=value`);
      continue;
    }
    if (flags.has(m[1])) problems.push(`${where}: --${m[1]} given twice`);
    flags.set(m[1], m[2] ?? "");
  }
  return flags;
}

function seconds(flags, flag, defaults, where, problems) {
  if (!flags.has(flag)) return defaults[flag];
  const v = Number(flags.get(flag));
  if (!Number.isInteger(v) || v < 0) {
    problems.push(`${where}: --${flag}=${flags.get(flag)} is not a whole number of seconds`);
    return 0;
  }
  return v;
}

function preStopSleep(container) {
  const cmd = container.lifecycle?.preStop?.exec?.command;
  if (Array.isArray(cmd) && cmd.length === 2 && cmd[0] === "sleep") return Number(cmd[1]) || 0;
  const sleep = container.lifecycle?.preStop?.sleep?.seconds;
  return typeof sleep === "number" ? sleep : 0;
}

function checkSecurity(pod, c, where, problems) {
  const ps = pod.securityContext ?? {};
  const cs = c.securityContext ?? {};
  const either = (key) => (cs[key] !== undefined ? cs[key] : ps[key]);
  if (either("runAsNonRoot") !== true) problems.push(`${where}: runAsNonRoot is not true`);
  if (either("runAsUser") !== 10001) problems.push(`${where}: runAsUser is not 10001`);
  if (cs.readOnlyRootFilesystem !== true) {
    problems.push(`${where}: readOnlyRootFilesystem is not true`);
  }
  if (cs.allowPrivilegeEscalation !== false) {
    problems.push(`${where}: allowPrivilegeEscalation is not false`);
  }
  if (!(cs.capabilities?.drop ?? []).includes("ALL")) {
    problems.push(`${where}: capabilities do not drop ALL`);
  }
  if ((cs.capabilities?.add ?? []).length) problems.push(`${where}: capabilities are added`);
  if (either("seccompProfile")?.type !== "RuntimeDefault") {
    problems.push(`${where}: seccompProfile is not RuntimeDefault`);
  }
}

function checkResources(c, where, problems) {
  for (const kind of ["requests", "limits"]) {
    for (const r of ["cpu", "memory"]) {
      if (c.resources?.[kind]?.[r] === undefined) {
        problems.push(`${where}: no resources.${kind}.${r}`);
      }
    }
  }
}

function probePort(probe, c) {
  const p = probe?.grpc?.port ?? probe?.httpGet?.port;
  if (typeof p === "number") return p;
  return (c.ports ?? []).find((cp) => cp.name === p)?.containerPort;
}

function containerPort(c, portName) {
  return (c.ports ?? []).find((p) => p.name === portName)?.containerPort;
}

// A path flag's file or folder lies in a volume mount (or in the image's read-only data).
function mounted(c, path) {
  if (path.startsWith("/usr/share/")) return true;
  return (c.volumeMounts ?? []).some(
    (m) => path === m.mountPath || path.startsWith(m.mountPath.replace(/\/$/, "") + "/"));
}

function checkServe(c, flags, where, problems) {
  const tls = flags.has("tls-cert");
  for (const f of ["tls-key", "tls-ca", "tls-crl-dir"]) {
    if (tls && !flags.has(f)) problems.push(`${where}: --tls-cert without --${f}`);
  }
  const listens = {};
  for (const [flag, portName] of [["grpc-listen", "grpc"], ["http-listen", "http"],
                                  ["probe-listen", "probe"], ["metrics-listen", "metrics"]]) {
    const value = flags.get(flag);
    if (value === undefined || value === "off") continue;
    const a = port(value);
    if (!a) {
      problems.push(`${where}: --${flag}=${value} is not HOST:PORT`);
      continue;
    }
    if (a.host !== "0.0.0.0") problems.push(`${where}: --${flag} does not listen on 0.0.0.0`);
    if (containerPort(c, portName) !== a.port) {
      problems.push(`${where}: container port "${portName}" is not --${flag}'s ${a.port}`);
    }
    listens[portName] = a.port;
  }
  if (listens.grpc === undefined) problems.push(`${where}: no --grpc-listen`);
  const plain = tls ? listens.probe : listens.grpc;
  if (tls && listens.probe === undefined) {
    problems.push(`${where}: mutual TLS on the gRPC port but no --probe-listen for the probes`);
  }
  for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"]) {
    const probe = c[kind];
    if (!probe) {
      problems.push(`${where}: no ${kind}`);
    } else if (!probe.grpc) {
      problems.push(`${where}: ${kind} is not a native gRPC probe`);
    } else if (plain !== undefined && probe.grpc.port !== plain) {
      problems.push(`${where}: ${kind} probes port ${probe.grpc.port}, not the plaintext ` +
                    `${tls ? "probe" : "gRPC"} port ${plain}`);
    }
  }
  for (const f of ["data-dir", "tls-cert", "tls-key", "tls-ca", "tls-crl-dir", "codelists"]) {
    if (flags.has(f) && !mounted(c, flags.get(f))) {
      problems.push(`${where}: --${f}=${flags.get(f)} is in no volume mount`);
    }
  }
}

function checkGateway(c, flags, where, problems) {
  if (!flags.get("upstream")) problems.push(`${where}: no --upstream`);
  const http = port(flags.get("http-listen"));
  if (!http || http.host !== "0.0.0.0") {
    problems.push(`${where}: --http-listen does not listen on 0.0.0.0`);
  } else if (containerPort(c, "http") !== http.port) {
    problems.push(`${where}: container port "http" is not --http-listen's ${http.port}`);
  }
  const want = { readinessProbe: "/readyz", livenessProbe: "/healthz" };
  for (const [kind, path] of Object.entries(want)) {
    const probe = c[kind];
    if (!probe?.httpGet) problems.push(`${where}: no HTTP ${kind}`);
    else if (probe.httpGet.path !== path) problems.push(`${where}: ${kind} is not GET ${path}`);
    else if (http && probePort(probe, c) !== http.port) {
      problems.push(`${where}: ${kind} is not on the HTTP port`);
    }
  }
}

function checkWorkload(obj, all, problems) {
  const where = name(obj);
  const tpl = obj.spec?.template ?? {};
  const labels = tpl.metadata?.labels ?? {};
  const pod = tpl.spec ?? {};
  if (labels["app.kubernetes.io/name"] !== "aurora") {
    problems.push(`${where}: pod label app.kubernetes.io/name is not aurora`);
  }
  if (labels["app.kubernetes.io/part-of"] !== "aurora-network") {
    problems.push(`${where}: pod label app.kubernetes.io/part-of is not aurora-network`);
  }
  const component = labels["app.kubernetes.io/component"];
  if (!COMPONENTS.has(component)) {
    problems.push(`${where}: pod label app.kubernetes.io/component is ${component}`);
  }
  if (component === "profile-node" && !labels["aurora.network/organization"]) {
    problems.push(`${where}: a profile node without the aurora.network/organization label`);
  }
  if (!matches(obj.spec?.selector, labels)) {
    problems.push(`${where}: the selector does not select the pod template's labels`);
  }
  if (pod.automountServiceAccountToken !== false) {
    problems.push(`${where}: automountServiceAccountToken is not false`);
  }
  const tmp = (pod.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name);
  const grace = pod.terminationGracePeriodSeconds ?? 30;
  const containers = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
  for (const c of containers) {
    const at = `${where} container ${c.name}`;
    checkResources(c, at, problems);
    checkSecurity(pod, c, at, problems);
    if (!(c.volumeMounts ?? []).some((m) => m.mountPath === "/tmp" && tmp.includes(m.name))) {
      problems.push(`${at}: /tmp is not an emptyDir`);
    }
    if (!/^aurora-network\/aurora:[A-Za-z0-9._-]+$/.test(c.image ?? "") ||
        c.image.endsWith(":latest")) {
      problems.push(`${at}: image ${c.image} is not aurora-network/aurora with a fixed tag`);
    }
    if ((c.env ?? []).length || (c.envFrom ?? []).length) {
      problems.push(`${at}: options come from the environment; put them in args`);
    }
    const cmd = c.command ?? [];
    const mode = cmd.length === 2 && cmd[0] === "aurora" ? cmd[1] : null;
    if (mode !== "serve" && mode !== "gateway") {
      problems.push(`${at}: command ${JSON.stringify(cmd)} is not ["aurora","serve"] ` +
                    `or ["aurora","gateway"]`);
      continue;
    }
    const flags = parseArgs(c.args, at, problems);
    const defaults = mode === "serve" ? SERVE_DEFAULTS : GATEWAY_DEFAULTS;
    const drain = seconds(flags, "drain-seconds", defaults, at, problems);
    const running = seconds(flags, "grace-seconds", defaults, at, problems);
    const sleep = preStopSleep(c);
    if (!(grace > drain + running + sleep)) {
      problems.push(`${at}: terminationGracePeriodSeconds ${grace} is not more than drain ` +
                    `${drain} + grace ${running} + preStop ${sleep} seconds`);
    }
    if (mode === "serve") checkServe(c, flags, at, problems);
    else checkGateway(c, flags, at, problems);
  }
  const pdbs = all.filter((o) => o.kind === "PodDisruptionBudget" &&
                                 o.metadata?.namespace === obj.metadata?.namespace &&
                                 matches(o.spec?.selector, labels));
  if (pdbs.length === 0) problems.push(`${where}: no PodDisruptionBudget selects its pods`);
}

export function checkPolicy(objects) {
  const problems = [];
  const workloads = objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet");
  for (const w of workloads) checkWorkload(w, objects, problems);
  for (const s of objects.filter((o) => o.kind === "Service")) {
    const selected = workloads.filter(
      (w) => w.metadata?.namespace === s.metadata?.namespace &&
             matches({ matchLabels: s.spec?.selector }, w.spec?.template?.metadata?.labels));
    if (selected.length === 0) {
      problems.push(`${name(s)}: its selector picks no workload's pods`);
      continue;
    }
    for (const p of s.spec?.ports ?? []) {
      const target = p.targetPort ?? p.port;
      const ok = selected.some((w) => (w.spec.template.spec.containers ?? []).some((c) =>
        (c.ports ?? []).some((cp) => cp.name === target || cp.containerPort === target)));
      if (!ok) problems.push(`${name(s)}: port ${p.name} targets ${target}, which no pod has`);
    }
  }
  for (const s of workloads.filter((w) => w.kind === "StatefulSet")) {
    const svc = objects.find((o) => o.kind === "Service" && o.metadata?.name === s.spec?.serviceName &&
                                    o.metadata?.namespace === s.metadata?.namespace);
    if (!svc) problems.push(`${name(s)}: its serviceName ${s.spec?.serviceName} is no Service`);
    else if (svc.spec?.clusterIP !== "None") {
      problems.push(`${name(s)}: its serviceName ${s.spec.serviceName} is not headless`);
    }
  }
  for (const h of objects.filter((o) => o.kind === "HorizontalPodAutoscaler")) {
    const ref = h.spec?.scaleTargetRef ?? {};
    if (!workloads.some((w) => w.kind === ref.kind && w.metadata?.name === ref.name &&
                               w.metadata?.namespace === h.metadata?.namespace)) {
      problems.push(`${name(h)}: scaleTargetRef ${ref.kind} ${ref.name} is not in the overlay`);
    }
  }
  return problems;
}
