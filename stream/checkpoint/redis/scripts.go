package redis

// The Lua scripts of the writes. Each is one atomic compare-and-swap on a
// partition's hash (KEYS[1]) that also adds the partition to its group's
// set (KEYS[2]). A script returns 1 when it wrote, 0 when the hash is not
// what the caller expects (the store then reads it to say why: a conflict
// or corrupt data), and -1 when the group's set is not a set. It checks
// everything before its first write, so a refused write changes nothing.
//
// The prologue refuses a key that is not a hash, and a hash of another
// schema or with fields the schema does not have; f holds the fields in
// the order of scriptFields.
const scriptPrologue = `
local it = redis.call('TYPE', KEYS[2])['ok']
if it ~= 'none' and it ~= 'set' then return -1 end
local t = redis.call('TYPE', KEYS[1])['ok']
local f = {}
if t == 'hash' then
  f = redis.call('HMGET', KEYS[1], 'schema', 'version', 'checkpoint', 'writer', 'lease_counter', 'lease_owner', 'lease_expires', 'lease_writer')
  local n = 0
  for i = 1, 8 do if f[i] then n = n + 1 end end
  if f[1] ~= ARGV[1] or n ~= redis.call('HLEN', KEYS[1]) then return 0 end
elseif t ~= 'none' then
  return 0
end
`

// scriptFields are the fields the prologue reads, in order.
var scriptFields = []string{fieldSchema, fieldVersion, fieldCheckpoint, fieldWriter, fieldCounter, fieldOwner, fieldExpires, fieldLeaseWriter}

// saveSource is the compare-and-swap of a checkpoint. ARGV: the schema,
// the expected version ("0": no checkpoint may be stored), the SHA-1 of
// the expected document (unused for version 0), the new version, the new
// document, the write's id and the partition.
const saveSource = scriptPrologue + `
if ARGV[2] == '0' then
  if f[2] or f[3] then return 0 end
elseif f[2] ~= ARGV[2] or not f[3] or redis.sha1hex(f[3]) ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], 'schema', ARGV[1], 'version', ARGV[4], 'checkpoint', ARGV[5], 'writer', ARGV[6])
redis.call('SADD', KEYS[2], ARGV[7])
return 1
`

// leaseSource is the compare-and-swap of a lease. ARGV: the schema, the
// expected counter ("0": no lease may be stored), the expected owner and
// expiry ("" for none), the new counter, the new owner ("" releases the
// lease: owner and expiry are removed), the new expiry, the write's id
// and the partition.
const leaseSource = scriptPrologue + `
if ARGV[2] == '0' then
  if f[5] or f[6] or f[7] then return 0 end
elseif f[5] ~= ARGV[2] or (f[6] or '') ~= ARGV[3] or (f[7] or '') ~= ARGV[4] then
  return 0
end
if ARGV[6] == '' then
  redis.call('HDEL', KEYS[1], 'lease_owner', 'lease_expires')
  redis.call('HSET', KEYS[1], 'schema', ARGV[1], 'lease_counter', ARGV[5], 'lease_writer', ARGV[8])
else
  redis.call('HSET', KEYS[1], 'schema', ARGV[1], 'lease_counter', ARGV[5], 'lease_owner', ARGV[6], 'lease_expires', ARGV[7], 'lease_writer', ARGV[8])
end
redis.call('SADD', KEYS[2], ARGV[9])
return 1
`
