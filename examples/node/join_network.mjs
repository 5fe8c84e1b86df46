// Join the Aurora Network as an organisation, from Node.js, over mutual TLS.
//
// The same steps as examples/python/join_network.py, with @grpc/grpc-js and the contracts loaded
// at run time by @grpc/proto-loader from the repository's protos/ and examples/protos/:
//
//   (a) set where the organisation's node answers, in the network registry (at the directory);
//   (b) publish the organisation's gRPC service fi.example.benefits.v1.Benefits with the access
//       rights given on the command line (only with --backend: the organisation offers it);
//   (c) wait until the organisation's own node has the new registry copy, so that the node
//       already enforces the new rights;
//   (d) with --call-node/--call-org: list what the organisation may call at another member's
//       node, and call GetDecision there;
//   (e) ask the directory's recommender which services fit a person's life situation;
//   (f) with --transfer-link/--client-id: receive a session transfer. A person at another
//       member's node sent their attributes to a channel of this organisation's service; the
//       link the person arrived with names the token and the organisation whose node holds it.
//       The organisation's own node redeems it there over mutual TLS and keeps the attributes,
//       under a pseudonym of its own for the service's API client, which then reads them back.
//
// Run again, it changes nothing but the rights (publishing replaces the service at its current
// revision). Usage (after `npm ci` here; the build provides <build>/googleapis):
//
//   protoc -I examples/protos --include_imports --descriptor_set_out=benefits.pb \
//       fi/example/benefits/v1/benefits.proto
//   node examples/node/join_network.mjs --googleapis build/release/googleapis \
//       --directory directory.example.fi:50051 --node node.example.fi:50051 \
//       --org 0f6f1c1e-3b4a-4c2d-9e8f-5a6b7c8d9e0f --cert-dir org-a \
//       --backend 127.0.0.1:7001 --descriptor-set benefits.pb \
//       --open-method GetDecision --allow Apply=5d0c2a7e-1111-4a2b-8c3d-000000000001 \
//       --client-id 3f0e… --transfer-link 'https://…?auroraai_access_token=…&aurora_transfer_source=…'

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const SERVICE = 'fi.example.benefits.v1.Benefits';
const TIMEOUT_MS = 10_000; // every call gets a deadline
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const USAGE = `usage: node join_network.mjs --directory HOST:PORT --node HOST:PORT --org ID
    --cert-dir DIR
    [--backend HOST:PORT --descriptor-set FILE [--open-method METHOD]... [--allow METHOD=ORG]...]
    [--call-node HOST:PORT --call-org ID] [--life-situation TEXT] [--municipality CODE]
    [--top N] [--wait-seconds S] [--transfer-link URL --client-id ID] [--googleapis DIR]`;

// A failure other than a gRPC status: the message says what is wrong.
class Failed extends Error {}

function parseCommandLine() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        directory: { type: 'string' },      // the node that runs the directory (the registry)
        node: { type: 'string' },           // the organisation's own node, as others dial it
        org: { type: 'string' },            // the organisation's id (its certificate names it)
        'cert-dir': { type: 'string' },     // node.crt, node.key, ca.crt from `aurora ca issue`
        backend: { type: 'string' },        // the Benefits backend (the node's --service-backends)
        'descriptor-set': { type: 'string' }, // protoc --include_imports --descriptor_set_out
        'open-method': { type: 'string', multiple: true, default: [] },
        allow: { type: 'string', multiple: true, default: [] },
        'call-node': { type: 'string' },
        'call-org': { type: 'string' },
        'life-situation': { type: 'string', default: 'I lost my job and need money for rent' },
        municipality: { type: 'string', default: '091' },
        top: { type: 'string', default: '5' },
        'wait-seconds': { type: 'string', default: '30' },
        'transfer-link': { type: 'string' }, // the link a person arrived with at the service
        'client-id': { type: 'string' },     // the API client the transfer channel names
        // google/api/annotations.proto (imported by the contracts for their HTTP rules): the
        // build extracts it from Debian's libgoogle-common-protos-java into <build>/googleapis.
        googleapis: { type: 'string', default: path.join(REPO, 'build', 'release', 'googleapis') },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new Failed(`${error.message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  for (const required of ['directory', 'node', 'org', 'cert-dir']) {
    if (!values[required]) throw new Failed(`--${required} is required\n${USAGE}`);
  }
  if (!values['call-node'] !== !values['call-org']) {
    throw new Failed('--call-node and --call-org go together');
  }
  if (!values['transfer-link'] !== !values['client-id']) {
    throw new Failed('--transfer-link and --client-id go together');
  }
  for (const number of ['top', 'wait-seconds']) {
    if (!(Number(values[number]) > 0)) {
      throw new Failed(`--${number} ${values[number]}: not a positive number`);
    }
  }
  if (values.backend && !values['descriptor-set']) {
    throw new Failed('--backend: publishing needs --descriptor-set FILE (protoc --include_imports '
                     + '--descriptor_set_out=FILE fi/example/benefits/v1/benefits.proto)');
  }
  return values;
}

// The contracts, loaded from .proto files. keepCase: fields are named as in the .proto files
// (organization_id), as the registry's documentation names them.
function loadContracts(googleapis) {
  if (!fs.existsSync(path.join(googleapis, 'google', 'api', 'annotations.proto'))) {
    throw new Failed(`--googleapis ${googleapis}: has no google/api/annotations.proto (build the `
                     + 'project, or pass <build>/googleapis)');
  }
  const definition = protoLoader.loadSync(
    ['aurora/network/v1/network.proto', 'aurora/recommender/v1/recommender.proto',
     'aurora/profile/v1/profile.proto', 'fi/example/benefits/v1/benefits.proto'],
    {
      includeDirs: [path.join(REPO, 'protos'), path.join(REPO, 'examples', 'protos'), googleapis],
      keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
    });
  return grpc.loadPackageDefinition(definition);
}

// The organisation's node certificate: every node takes the caller's organisation from it.
// (With an IP address as the target, grpc-js sends it as the TLS server name and Node.js warns
// DEP0123; harmless, and gone with DNS names, as nodes have in production.)
function mtlsCredentials(certDir) {
  const read = (name) => {
    const file = path.join(certDir, name);
    try {
      return fs.readFileSync(file);
    } catch (error) {
      throw new Failed(`--cert-dir: cannot read ${file}: ${error.code}`);
    }
  };
  return grpc.credentials.createSsl(read('ca.crt'), read('node.key'), read('node.crt'));
}

// --open-method and --allow as the registry's per-method rights (MethodAccess).
function requestedRights(openMethods, allows) {
  const rights = new Map(openMethods.map((method) => [method, { open_to_members: true }]));
  for (const entry of allows) {
    const [method, org] = entry.split(/=(.*)/s);
    if (!method || !org) throw new Failed(`--allow '${entry}': expected METHOD=ORGANISATION_ID`);
    if (openMethods.includes(method)) {
      throw new Failed(`--allow '${entry}': ${method} is already open to every member`);
    }
    if (!rights.has(method)) rights.set(method, { allowed_organizations: [] });
    rights.get(method).allowed_organizations.push(org);
  }
  return [...rights].map(([method, access]) => ({ method, access }));
}

function describe(access) {
  if (access?.open_to_members) return 'open to members';
  if (access?.allowed_organizations?.length) {
    return `allowed: ${access.allowed_organizations.join(', ')}`;
  }
  return 'the provider only';
}

// grpc-js calls take a callback; a promise reads better in a sequence of steps.
function unary(client, method, request, metadata = new grpc.Metadata()) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: Date.now() + TIMEOUT_MS },
                   (error, response) => (error ? reject(error) : resolve(response)));
  });
}

// The token and the organisation whose node holds it, from the link's query.
function transferFromLink(link) {
  let query;
  try {
    query = new URL(link).searchParams;
  } catch {
    throw new Failed(`--transfer-link '${link}': not a URL`);
  }
  const token = query.get('auroraai_access_token');
  if (!token) throw new Failed(`--transfer-link '${link}': has no auroraai_access_token`);
  // Without aurora_transfer_source the token is held at the organisation's own node.
  return { token, source: query.get('aurora_transfer_source') ?? '' };
}

// A google.protobuf.Value (as proto-loader gives it, with oneofs: `kind` names the field that is
// set; protobufjs keeps its own camelCase names for the well-known types) as plain JavaScript.
function plainValue(value) {
  if (!value?.kind) return null;
  const inner = value[value.kind];
  switch (value.kind.replace(/_([a-z])/g, (_, letter) => letter.toUpperCase())) {
    case 'numberValue':
    case 'stringValue':
    case 'boolValue':
      return inner;
    case 'structValue':
      return Object.fromEntries(Object.entries(inner.fields ?? {})
        .map(([name, field]) => [name, plainValue(field)]));
    case 'listValue': return (inner.values ?? []).map(plainValue);
    default: return null;
  }
}

const formatValue = (value) => JSON.stringify(plainValue(value));

function waitForReady(client) {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + TIMEOUT_MS, (error) => (error ? reject(error) : resolve()));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const args = parseCommandLine();
  const rights = requestedRights(args['open-method'], args.allow); // checked before any change
  const transfer = args['transfer-link'] ? transferFromLink(args['transfer-link']) : null;
  const { aurora, fi } = loadContracts(args.googleapis);
  const { NetworkRegistry, Discovery } = aurora.network.v1;
  const { Benefits } = fi.example.benefits.v1;
  const credentials = mtlsCredentials(args['cert-dir']);
  let descriptorSet;
  if (args.backend) {
    // Do not publish a service nobody answers: the node forwards other members' calls to the
    // backend over the organisation's private network, in plaintext.
    const backend = new Benefits(args.backend, grpc.credentials.createInsecure());
    try {
      await waitForReady(backend);
    } catch {
      throw new Failed(`--backend ${args.backend}: no ${SERVICE} backend answers there `
                       + '(start examples/python/benefits_backend.py)');
    } finally {
      backend.close();
    }
    try {
      descriptorSet = fs.readFileSync(args['descriptor-set']);
    } catch (error) {
      throw new Failed(`--descriptor-set: cannot read ${args['descriptor-set']}: ${error.code}`);
    }
  }
  const registry = new NetworkRegistry(args.directory, credentials);
  const directoryDiscovery = new Discovery(args.directory, credentials);
  let step = '?';

  try {
    // (a) Other members learn from the registry where to call this organisation.
    step = '(a) SetNodeAddress';
    const member = await unary(registry, 'SetNodeAddress',
                               { organization_id: args.org, node_address: args.node });
    console.log(`(a) node address of ${member.organization_id}: ${member.node_address} `
                + `(registry revision ${member.revision})`);

    if (args.backend) {
      // (b) Publish. The directory's node has the newest registry; its revision of the service
      // is the one to replace. 0 creates the service (ALREADY_EXISTS if another organisation
      // took the name).
      step = '(b) PublishService';
      const mine = await unary(directoryDiscovery, 'ListMemberServices',
                               { organization_id: args.org });
      const current = mine.services.find((s) => s.name === SERVICE)?.revision ?? 0;
      const published = await unary(registry, 'PublishService', {
        service: {
          name: SERVICE, organization_id: args.org, title: { en: 'Benefit decisions' },
          descriptor_set: descriptorSet, method_access: rights,
        },
        expected_revision: current,
      });
      const action = current ? `replaced revision ${current}` : 'created';
      console.log(`(b) published ${published.name}: revision ${published.revision} (${action})`);
      const granted = new Map(published.method_access.map((m) => [m.method, m.access]));
      for (const method of published.methods) {
        console.log(`    ${method}: ${describe(granted.get(method) ?? published.access)}`);
      }

      // (c) Our node enforces the rights from its registry copy: wait until it has this revision.
      step = '(c) Discovery at the own node';
      const ownDiscovery = new Discovery(args.node, credentials);
      const deadline = Date.now() + Number(args['wait-seconds']) * 1000;
      for (;;) {
        const answer = await unary(ownDiscovery, 'ListMemberServices',
                                   { organization_id: args.org });
        if (answer.services.some((s) => s.name === SERVICE && s.revision >= published.revision)) {
          console.log(`(c) node ${args.node} lists ${SERVICE} `
                      + `(registry version ${answer.registry_version})`);
          break;
        }
        if (Date.now() > deadline) {
          throw new Failed(`node ${args.node} did not list ${SERVICE} revision `
                           + `${published.revision} within ${args['wait-seconds']} s (its `
                           + `registry version is ${answer.registry_version}): does it follow `
                           + 'the directory (--directory-target)?');
        }
        await sleep(200);
      }
      ownDiscovery.close();
    }

    if (args['call-node']) {
      // (d) The other member's node answers from its own registry copy what we may call there,
      // and admits our call only if our organisation (from our certificate) holds the right.
      step = `(d) calling ${args['call-node']}`;
      const discovery = new Discovery(args['call-node'], credentials);
      const allowed = await unary(discovery, 'ListAllowedMethods', {});
      discovery.close();
      console.log(`(d) ${allowed.organization_id} may call at ${args['call-node']} `
                  + `(organisation ${args['call-org']}):`);
      for (const method of allowed.methods) {
        if (method.organization_id === args['call-org']) {
          console.log(`    ${method.path} (${method.grant})`);
        }
      }
      const benefits = new Benefits(args['call-node'], credentials);
      const decision = await unary(benefits, 'GetDecision', { decision_id: 'example-1' });
      benefits.close();
      console.log(`    GetDecision answered: decision ${decision.decision_id}: `
                  + decision.outcome);
    }

    // (e) The recommender ranks every service of the directory for a life situation.
    step = '(e) Recommend';
    const recommender = new aurora.recommender.v1.Recommender(args.directory, credentials);
    const answer = await unary(recommender, 'Recommend', {
      text: args['life-situation'], municipality_code: args.municipality,
      limit: Number(args.top),
    });
    recommender.close();
    console.log(`(e) recommendations for "${args['life-situation']}" in ${args.municipality}:`);
    for (const found of answer.services) {
      const { name, id } = found.service;
      const where = found.provider_node_address ? ` at node ${found.provider_node_address}` : '';
      console.log(`    ${found.rank}. ${name.en || name.fi || name.sv} [${id}]${where}`);
    }
    if (answer.services.length === 0) console.log('    (none)');

    if (transfer) {
      // (f) The service's own node redeems the token where it is held and keeps what it
      // carried. The node takes the organisation from the certificate; the API client the
      // transfer is for is named in x-aurora-client-id (believed only from its own organisation).
      step = '(f) ReceiveTransfer';
      const asClient = new grpc.Metadata();
      asClient.set('x-aurora-client-id', args['client-id']);
      const access = new aurora.profile.v1.ProfileAccess(args.node, credentials);
      const received = await unary(access, 'ReceiveTransfer', {
        access_token: transfer.token, source_organization_id: transfer.source,
      }, asClient);
      console.log('(f) received a session transfer from organisation '
                  + `${received.source_organization_id || args.org} for client ${args['client-id']}:`);
      console.log(`    person ${received.user_id} at ${args.node}`);
      for (const attribute of received.attributes) {
        console.log(`    ${attribute.name} = ${formatValue(attribute.value)}`);
      }
      // It came with a read and a store consent of the person to the client, for one purpose.
      const { purpose } = received.consents[0];
      const read = await unary(access, 'ReadAttributes', {
        user_id: received.user_id, attributes: received.attributes.map((a) => a.name), purpose,
      }, asClient);
      access.close();
      console.log(`    read back at ${args.node} for "${purpose}": `
                  + read.attributes.map((a) => `${a.name} = ${formatValue(a.value)}`).join(', '));
    }
  } catch (error) {
    if (typeof error.code !== 'number') throw error; // not a gRPC status
    console.error(`error: ${step}: ${grpc.status[error.code]}: ${error.details}`);
    return 1;
  } finally {
    registry.close();
    directoryDiscovery.close();
  }
  return 0;
}

main().then((code) => process.exit(code), (error) => {
  console.error(`error: ${error instanceof Failed ? error.message : error.stack}`);
  process.exit(1);
});
