// Starts a local AT Protocol network (PLC + PDS + AppView + Ozone from @atproto/dev-env), seeds a brand
// account with followers and interactions, and describes it as JSON. Stops cleanly on SIGTERM / SIGINT.
//
//   node start.mjs [--out network.json] [--base-port 2780]
//
// Needs Node >= 22, PostgreSQL (DB_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

import { TestNetwork } from '@atproto/dev-env';
import pg from 'pg';

const BRAND_HANDLE = 'brand.test';
const BRAND_PASSWORD = 'brand-login-password';
const FAN_COUNT = 10;
const UNFOLLOWER_COUNT = 2;
// A 1x1 PNG: dev-env's own seed avatar is not shipped in its npm package.
const AVATAR_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

const { values: args } = parseArgs({
  options: {
    out: { type: 'string' },
    'base-port': { type: 'string', default: '2780' },
  },
});
const basePort = Number(args['base-port']);
const dbPostgresUrl = process.env.DB_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
// dev-env requires REDIS_HOST to be set although this network never talks to Redis.
process.env.REDIS_HOST ??= '127.0.0.1';
const schema = `followback_${randomLetters(10)}`;
const schemas = [`appview_${schema}`, `bsync_${schema}`, `ozone_${schema}`];

let network;
let stopping = false;

function randomLetters(count) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz';
  return Array.from(randomBytes(count), (byte) => alphabet[byte % alphabet.length]).join('');
}

async function dropSchemas() {
  const client = new pg.Client({ connectionString: dbPostgresUrl });
  await client.connect();
  try {
    for (const name of schemas) {
      await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    }
  } finally {
    await client.end();
  }
}

async function stop(exitCode) {
  if (stopping) return;
  stopping = true;
  try {
    await network?.close();
  } catch (err) {
    console.error('devnet: error while closing the network', err);
  }
  try {
    await dropSchemas();
  } catch (err) {
    console.error('devnet: could not drop schemas', err);
  }
  process.exit(exitCode);
}

async function createProfile(sc, did, displayName, description, selfLabels = []) {
  const headers = sc.getHeaders(did);
  const { data } = await sc.agent.com.atproto.repo.uploadBlob(AVATAR_PNG, { encoding: 'image/png', headers });
  const record = {
    $type: 'app.bsky.actor.profile',
    displayName,
    description,
    avatar: data.blob,
    createdAt: new Date().toISOString(),
  };
  if (selfLabels.length) {
    record.labels = { $type: 'com.atproto.label.defs#selfLabels', values: selfLabels.map((val) => ({ val })) };
  }
  await sc.agent.com.atproto.repo.putRecord(
    { repo: did, collection: 'app.bsky.actor.profile', rkey: 'self', record },
    { encoding: 'application/json', headers },
  );
}

async function createAccount(sc, handle, password, displayName, description, selfLabels) {
  const name = handle.split('.')[0];
  const account = await sc.createAccount(name, { handle, email: `${name}@example.test`, password });
  await createProfile(sc, account.did, displayName, description, selfLabels);
  return account;
}

function mentionFacet(text, handle, did) {
  const byteStart = Buffer.byteLength(text.slice(0, text.indexOf(`@${handle}`)));
  const byteEnd = byteStart + Buffer.byteLength(`@${handle}`);
  return [{ index: { byteStart, byteEnd }, features: [{ $type: 'app.bsky.richtext.facet#mention', did }] }];
}

async function appPassword(sc, did) {
  const { data } = await sc.agent.com.atproto.server.createAppPassword(
    { name: 'followback' },
    { encoding: 'application/json', headers: sc.getHeaders(did) },
  );
  return data.password;
}

async function seed(sc) {
  const brand = await createAccount(sc, BRAND_HANDLE, BRAND_PASSWORD, 'Brand', 'The brand account');
  const launch = await sc.post(brand.did, 'We launched something new today');
  const fans = [];
  for (let i = 1; i <= FAN_COUNT; i++) {
    const labels = i === FAN_COUNT ? ['bot'] : [];
    const fan = await createAccount(sc, `fan${i}.test`, `fan-password-${i}`, `Fan ${i}`, `Fan number ${i}`, labels);
    await sc.follow(fan.did, brand.did);
    fans.push(fan);
  }
  const interactions = { reply: [], like: [], repost: [], quote: [], mention: [], follow: fans.map((f) => f.did) };
  for (const [i, fan] of fans.entries()) {
    if (i % 2 === 0) {
      await sc.reply(fan.did, launch.ref, launch.ref, `Congratulations from fan ${i + 1}`);
      interactions.reply.push(fan.did);
    }
    if (i % 3 === 0) {
      await sc.like(fan.did, launch.ref);
      interactions.like.push(fan.did);
    }
    if (i % 4 === 0) {
      await sc.repost(fan.did, launch.ref);
      interactions.repost.push(fan.did);
    }
  }
  await sc.post(fans[1].did, 'Look at this', undefined, undefined, launch.ref);
  interactions.quote.push(fans[1].did);
  const mention = `Hello @${BRAND_HANDLE} from fan 4`;
  await sc.post(fans[3].did, mention, mentionFacet(mention, BRAND_HANDLE, brand.did));
  interactions.mention.push(fans[3].did);

  const unfollowers = [];
  for (let i = 1; i <= UNFOLLOWER_COUNT; i++) {
    const gone = await createAccount(sc, `gone${i}.test`, `gone-password-${i}`, `Gone ${i}`, 'Followed, then left');
    await sc.follow(gone.did, brand.did);
    await sc.unfollow(gone.did, brand.did);
    unfollowers.push(gone);
  }
  return {
    brand: {
      did: brand.did,
      handle: BRAND_HANDLE,
      app_password: await appPassword(sc, brand.did),
    },
    followers: fans.map((fan) => ({ did: fan.did, handle: fan.handle })),
    unfollowers: unfollowers.map((gone) => ({ did: gone.did, handle: gone.handle })),
    bot_followers: [fans[FAN_COUNT - 1].did],
    interactions,
  };
}

async function describe(description) {
  const line = JSON.stringify(description);
  if (!args.out) {
    process.stdout.write(`${line}\n`);
    return;
  }
  await writeFile(`${args.out}.tmp`, line);
  await rename(`${args.out}.tmp`, args.out);
}

async function main() {
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
  network = await TestNetwork.create({
    dbPostgresUrl,
    dbPostgresSchema: schema,
    plc: { port: basePort },
    pds: { port: basePort + 1, hostname: 'localhost' },
    bsky: { port: basePort + 2 },
    ozone: { port: basePort + 3 },
  });
  const seeded = await seed(network.getSeedClient());
  await network.processAll();
  await describe({
    plc_url: network.plc.url,
    pds_url: network.pds.url,
    appview_url: network.bsky.url,
    pid: process.pid,
    ...seeded,
  });
}

main().catch(async (err) => {
  console.error('devnet: failed to start', err);
  await stop(1);
});
