-- The generic part of the generated dissector. It knows no message: everything specific
-- comes from the tables G.* generated above (dissector/wireshark/lua.py). It mirrors ghrm's
-- decoder so both agree field for field and on every malformation:
--   reassembly  dissector/capture/reassembly.py (per client VMID and direction)
--   dissection  dissector/layers/header.py, base.py, dispatch.py (lenient, never raises)
--   pairing     dissector/analysis/transactions.py (client_keys, pair), in frame order
-- Lua has no reassembly or SRT API: state lives in Lua tables filled on the first pass
-- (not pinfo.visited), keyed by frame number and reset in proto.init.
-- Compatible with Lua 5.2 (Wireshark 4.0) and 5.4: no bit32, no integer division operator.

local C = G.C
local floor, min = math.floor, math.min
local fmt = string.format

-- Load once: an installed copy plus `-X lua_script:` (or two plugin folders) would register the
-- protocol twice, which Wireshark reports in a modal Lua error. The first copy loaded wins; a
-- later one says so in one line and steps aside. Reload Lua Plugins starts a fresh Lua state,
-- so it reloads normally.
local function this_file()
  local info = type(debug) == "table" and debug.getinfo and debug.getinfo(2, "S") or nil
  return ((info and info.source or "?"):gsub("^@", ""))
end
if rawget(_G, "GUNYAH_RM_LOADED") ~= nil then
  local first = _G.GUNYAH_RM_LOADED
  local same = first.build == G.BUILD and "the same build" or fmt("build %s, this one is %s", first.build, G.BUILD)
  io.stderr:write(fmt("gunyah_rm: already loaded from %s (%s); %s is not loaded again. "
    .. "Use one copy: drop -X lua_script: when the plugin is installed (ghrm wireshark install).\n",
    first.file, same, this_file()))
  return
end
_G.GUNYAH_RM_LOADED = {file = this_file(), build = G.BUILD, dialect = G.DIALECT}

local proto = Proto.new(G.PROTO, "Gunyah Resource Manager RPC")

local DIRECTION_NAMES = {[0] = "unknown", [1] = "to_rm", [2] = "from_rm"}
local TYPE_WORDS = {[0] = "Continuation", [1] = "Request", [2] = "Reply", [3] = "Notification"}
local ROLE_WORDS = {req = "request", rep = "reply", err = "error reply", ntf = "notification"}

local HF = {
  version = ProtoField.uint8("gunyah_rm.version", "Capture header version", base.DEC),
  direction = ProtoField.uint8("gunyah_rm.direction", "Direction", base.DEC, DIRECTION_NAMES),
  client_vmid = ProtoField.uint16("gunyah_rm.client_vmid", "Client VMID", base.HEX),
  header_words = ProtoField.uint8("gunyah_rm.header_words", "Header words", base.DEC, nil, 0xF0),
  api_version = ProtoField.uint8("gunyah_rm.api_version", "API version", base.DEC, nil, 0x0F),
  fragments = ProtoField.uint8("gunyah_rm.fragments", "Fragments", base.DEC, nil, 0xFC),
  type = ProtoField.uint8("gunyah_rm.type", "Message type", base.DEC, G.TYPE_NAMES, 0x03),
  seq = ProtoField.uint16("gunyah_rm.seq", "Sequence number", base.DEC),
  msg_id = ProtoField.uint32("gunyah_rm.msg_id", "Message id", base.HEX, G.MSG_NAMES),
  msg_name = ProtoField.string("gunyah_rm.msg_name", "Message name"),
  msg_alias = ProtoField.string("gunyah_rm.msg_alias", "Message name in other sources"),
  err_code = ProtoField.uint32("gunyah_rm.err_code", "Error code", base.HEX, G.ERR_NAMES),
  err_name = ProtoField.string("gunyah_rm.err_name", "Error name"),
  err_alias = ProtoField.string("gunyah_rm.err_alias", "Error name in other sources"),
  payload = ProtoField.none("gunyah_rm.payload", "Payload"),
  data = ProtoField.bytes("gunyah_rm.data", "Data"),
  fragment = ProtoField.bytes("gunyah_rm.fragment", "Fragment payload"),
  frames = ProtoField.framenum("gunyah_rm.frames", "Record", base.NONE),
  length = ProtoField.uint32("gunyah_rm.length", "Reassembled length", base.DEC),
  reassembled_in = ProtoField.framenum("gunyah_rm.reassembled_in", "Reassembled in", base.NONE),
  malformed = ProtoField.string("gunyah_rm.malformed", "Malformed"),
  malformed_kind = ProtoField.string("gunyah_rm.malformed.kind", "Kind"),
  response_in = ProtoField.framenum("gunyah_rm.response_in", "Response in", base.NONE, frametype.RESPONSE),
  request_in = ProtoField.framenum("gunyah_rm.request_in", "Request in", base.NONE, frametype.REQUEST),
  time = ProtoField.relative_time("gunyah_rm.time", "Time since request"),
}
local HF_ORDER = {
  "version", "direction", "client_vmid", "header_words", "api_version", "fragments", "type", "seq",
  "msg_id", "msg_name", "msg_alias", "err_code", "err_name", "err_alias", "payload", "data", "fragment",
  "frames", "length", "reassembled_in", "malformed", "malformed_kind", "response_in", "request_in", "time",
}

-- Severities are ghrm's (G.SEVERITY, generated from the findings' scheme): malformed is an
-- error, error replies and pairing problems are warnings.
local SEVERITY_OF = {error = expert.severity.ERROR, warning = expert.severity.WARN,
  note = expert.severity.NOTE, chat = expert.severity.CHAT}
local function new_expert(name, text, group)
  return ProtoExpert.new("gunyah_rm.expert." .. name, text, group, SEVERITY_OF[G.SEVERITY[name]])
end
local EF = {
  malformed = new_expert("malformed", "Malformed RM message", expert.group.MALFORMED),
  error_reply = new_expert("error_reply", "RM error reply", expert.group.RESPONSE_CODE),
  unanswered = new_expert("unanswered", "Request never answered", expert.group.SEQUENCE),
  duplicate = new_expert("duplicate", "Duplicate request or reply", expert.group.SEQUENCE),
  no_request = new_expert("no_request", "Reply without a request", expert.group.SEQUENCE),
  capture_header = new_expert("capture_header", "Capture header problem", expert.group.PROTOCOL),
  reserved = new_expert("reserved", "Non-zero reserved field", expert.group.PROTOCOL),
}

-- Hidden alias items cost about a fifth of the dissection time, so they are opt-in:
-- tshark -o gunyah_rm.aliases:TRUE. Value strings work either way: gunyah_rm.msg_id == "VM_START".
proto.prefs.aliases = Pref.bool("Add Linux and Qualcomm name aliases", false,
  "Add hidden gunyah_rm.msg_alias and gunyah_rm.err_alias items, so that filters can use the "
  .. "message and error names of the Linux and Qualcomm drivers")

-- Where a message sits in ghrm's numbering (design.md 1.3: a message is numbered by its FIRST
-- record; Wireshark shows a reassembled message in its last record, where all bytes are there).
local HX = {
  frame = ProtoField.framenum("gunyah_rm.frame", "Message (ghrm frame: its first record)", base.NONE),
  vm = ProtoField.uint16("gunyah_rm.vm", "VM of the exchange", base.HEX),
  request_frame = ProtoField.framenum("gunyah_rm.request_frame", "Request (first record)", base.NONE,
    frametype.REQUEST),
  reply_frame = ProtoField.framenum("gunyah_rm.reply_frame", "First reply (first record)", base.NONE,
    frametype.RESPONSE),
  latency = ProtoField.double("gunyah_rm.latency", "Latency (s)"),
  errno = ProtoField.string("gunyah_rm.errno", "Linux errno"),
}
local HX_ORDER = {"frame", "vm", "request_frame", "reply_frame", "latency", "errno"}

do
  local all = {}
  for _, name in ipairs(HF_ORDER) do all[#all + 1] = HF[name] end
  for _, name in ipairs(HX_ORDER) do all[#all + 1] = HX[name] end
  for _, pf in ipairs(G.PF) do all[#all + 1] = pf end
  proto.fields = all
  proto.experts = {EF.malformed, EF.error_reply, EF.unanswered, EF.duplicate, EF.no_request,
    EF.capture_header, EF.reserved}
end

-- ====== state (first pass) ======
local ST

local function reset()
  ST = {
    frames = {},     -- frame number -> message it belongs to
    flights = {},    -- "vmid:dir" -> message waiting for continuations
    n_flights = 0,   -- how many, and a counter giving their start order
    started = 0,
    flight_bytes = 0,  -- what they hold together (bounded like ghrm's MAX_IN_FLIGHT_BYTES)
    msgs = {},       -- every message (in frame order once finalized)
    finalized = false,
    online = {epochs = {}, clients = {}, groups = {}, ranks = {}, answered = {}, n = 0, online = true},
    context = {handles = {}, latest = {}},  -- generated fields, first pass
  }
end
reset()

function proto.init()
  reset()
end

local function problem(list, kind, text)
  list[#list + 1] = {kind, text}
end

local function append_all(dst, src)
  for i = 1, #src do dst[#dst + 1] = src[i] end
end

local function msg_name(id)
  return G.MSG_NAMES[id] or fmt("UNKNOWN_0x%08x", id)
end

local function err_name(code)
  return G.ERR_NAMES[code] or fmt("UNKNOWN_0x%x", code)
end

-- What pairing needs from a complete message: a reply's error code as ghrm reads it (none for
-- a lone fragment or a payload too short) and the VMID a successful VM_ALLOCATE reply hands out.
local function reply_facts(m)
  if m.mtype ~= 2 then return end
  local data = table.concat(m.chunks)
  local lone = m.frags > 0 and #data <= C.max_msg
  if lone or #data < C.header_size + 4 then return end
  m.err = data:byte(9) + data:byte(10) * 256 + data:byte(11) * 65536 + data:byte(12) * 16777216
  local at = C.header_size + G.ALLOC.offset
  if m.msg_id == G.ALLOC.msg_id and m.err == 0 and #data >= at + G.ALLOC.size then
    m.allocated = data:byte(at + 1) + data:byte(at + 2) * 256
  end
end

local pair_online  -- defined with the pairing below

local function complete(m)
  m.done = true
  ST.msgs[#ST.msgs + 1] = m
  reply_facts(m)
  pair_online(m)
end

-- ghrm's pairing (dissector/analysis/transactions.py), over all messages in frame order.
--
-- A client is a VM, not a VMID (client_keys): a VMID handed out again by a successful
-- VM_ALLOCATE, or a client whose request seq falls back to below G.C.restart_seq, starts a new
-- client. Within one (client, seq, msg_id) requests are answered first in, first out; a reply
-- finding none open repeats the latest answer (a duplicate) or answers nothing; a request sent
-- while an earlier one of its key is open reuses the key; one coming more than
-- G.C.reuse_window requests of its client later is a seq wrap and starts afresh, and so does a
-- reuse after the client already got a reply to a later request (the earlier one was lost).
local function new_pairing(online)
  return {epochs = {}, clients = {}, groups = {}, ranks = {}, answered = {}, n = 0, online = online}
end

-- client_keys, one message: which client (VM) it belongs to.
local function client_step(P, m)
  local base = m.vmid .. "/" .. (P.epochs[m.vmid] or 0)
  if m.allocated ~= nil then P.epochs[m.allocated] = (P.epochs[m.allocated] or 0) + 1 end
  local c = P.clients[base]
  if c == nil then
    c = {restarts = 0}
    P.clients[base] = c
  end
  if m.mtype == 1 and m.seq ~= nil and G.MSG_NAMES[m.msg_id] ~= nil then
    if c.last_seq ~= nil then
      local back = c.last_seq - m.seq
      if back > 0 and back < 0x8000 and m.seq < C.restart_seq then c.restarts = c.restarts + 1 end
    end
    c.last_seq = m.seq
  end
  m.client = base .. "/" .. c.restarts
end

local function client_keys(rows)
  local P = new_pairing(false)
  for _, m in ipairs(rows) do client_step(P, m) end
end

-- transactions._abandoned for one reuse: the client gave the first request up (open longer than
-- G.C.give_up seconds, or a reply to a later request of the client came meanwhile).
local function gave_up(P, first, m)
  return (P.answered[m.client] or 0) > first.row or m.rel[1] - first.rel[1] > C.give_up
end

-- pair_keyed, one message. Online (first pass) the give-up rule is applied as the request
-- comes; the batch pairing at the end applies it in a second round, as transactions.py does.
local function pair_step(P, m, split)
  m.reply, m.request, m.reuses, m.reused_by, m.dup_reply, m.no_request = nil, nil, nil, nil, nil, nil
  if (m.mtype ~= 1 and m.mtype ~= 2) or m.seq == nil then return end
  local gkey = fmt("%s:%d:%d", m.client, m.seq, m.msg_id)
  local g = P.groups[gkey]
  if m.mtype == 1 then
    m.rank = P.ranks[m.client] or 0
    P.ranks[m.client] = m.rank + 1
    if g == nil then
      g = {reqs = {}, answered = 0}
      P.groups[gkey] = g
    elseif m.rank - g.last.rank > C.reuse_window or split[m]
        or (P.online and #g.reqs > g.answered and gave_up(P, g.last, m)) then
      g.reqs, g.answered = {}, 0  -- earlier requests still open stay unanswered
    elseif #g.reqs > g.answered then
      m.reuses, g.last.reused_by = g.last, m
    end
    g.reqs[#g.reqs + 1] = m
    g.last = m
    return
  end
  if g ~= nil and #g.reqs > g.answered then
    g.answered = g.answered + 1
    local q = g.reqs[g.answered]
    q.reply, m.request = m, q
  elseif g ~= nil and g.answered > 0 then
    m.request, m.dup_reply = g.reqs[g.answered], true
  else
    m.no_request = true
  end
  if m.request ~= nil and m.request.row > (P.answered[m.client] or 0) then P.answered[m.client] = m.request.row end
end

local function pair_keyed(rows, split)
  local P = new_pairing(false)
  for _, m in ipairs(rows) do pair_step(P, m, split) end
end

-- First pass: each message is paired when it is complete, so a reply shows its request, time and
-- VM without a second pass. Only what comes later (a request's reply) needs the whole capture.
-- ====== generated fields of an exchange (dissector/analysis/context.py) ======
-- vm: the VM the exchange concerns (memory/IRQ calls: the VM the parcel or IRQ is lent to;
-- VM_ALLOCATE: the VMID its reply allocated; else the request's payload vmid, 0 meaning the
-- caller; else the client), shared by the request, its replies and stray continuations;
-- request_frame, reply_frame (first reply), latency (s) and errno of the first reply's error.
local function bytes_of(m)
  if m.bytes == nil then m.bytes = table.concat(m.chunks) end
  return m.bytes
end

local function read_field(m, loc, base)  -- nil when the payload is too short
  local data = bytes_of(m)
  local at = C.header_size + (base or 0) + loc.off
  if #data < at + loc.sz then return nil end
  local value = 0
  for i = at + loc.sz, at + 1, -1 do value = value * 256 + data:byte(i) end
  return value
end

local function client_vm(m)
  if m.vmid == 0xFFFF then return nil end
  return m.vmid
end

-- A reply whose broken RPC header names no known message is noise, not a call (transactions.garbage).
local function garbage(m)
  if G.MSG_NAMES[m.msg_id or -1] ~= nil then return false end
  local b0 = m.chunks[1]:byte(1)
  if m.mtype == nil or b0 == nil or (m.frags or 0) > C.max_fragments then return true end
  return b0 % 16 ~= C.api_version or floor(b0 / 16) ~= C.header_words
end

-- One record of a multi-fragment message, never reassembled: its payload is not decoded.
local function lone(m)
  return m.mtype == 0 or ((m.frags or 0) > 0 and #bytes_of(m) <= C.max_msg)
end

-- messages.resolve_vmids: the VMID a message concerns by itself (rules 2-4)
local function own_vm(m, final)
  if m.allocated ~= nil then return m.allocated end
  local loc = G.VMID[m.mtype or -1] and G.VMID[m.mtype][m.msg_id]
  local v = nil
  if loc ~= nil and not lone(m) then v = read_field(m, loc) end
  if v ~= nil and v > 0 then return v end
  if v == 0 and m.mtype == 1 and m.msg_id == G.ALLOC.msg_id then  -- RM chooses: its reply says
    if final and m.reply ~= nil then return m.reply.allocated end
    return nil
  end
  return client_vm(m)
end

-- context.Resources.request_vm for a create (rule 1): MEM_LEND/SHARE/DONATE concern the first ACL
-- VMID other than the caller, VM_IRQ_LEND its borrower when that is a VMID (> 0); nil: rule 1 says
-- nothing. A create remembers its handle with this VM, and only when there is one (ghrm's rule).
local function created_vm(m)
  local create = G.CREATE[m.msg_id]
  if create ~= nil then
    local n = read_field(m, create.cnt) or 0
    local room = #bytes_of(m) - C.header_size - create.acl  -- ghrm's decoded ACL: whole entries only
    for i = 0, min(n, floor(room / create.entry)) - 1 do
      local v = read_field(m, create.vmid, create.acl + i * create.entry)
      if v == nil then break end
      if v ~= m.vmid then return v end
    end
    return nil
  end
  if m.msg_id == G.IRQ_LEND.msg_id then
    local borrower = read_field(m, G.IRQ_LEND.borrower)
    if borrower ~= nil and borrower > 0 then return borrower end
  end
  return nil
end

-- context.Resources (rule 1), in frame order: a create names its VM; a later call naming the
-- handle its successful reply returned concerns that VM when the creator makes it, else rule 3/4.
local function request_vm(X, m, final)
  local base = own_vm(m, final)
  m.vm_base = base
  m.created = nil
  if lone(m) then return base end
  if G.CREATE[m.msg_id] ~= nil or m.msg_id == G.IRQ_LEND.msg_id then
    m.created = created_vm(m)
    return m.created or base
  end
  local call = G.HANDLE_CALL[m.msg_id]
  local handle = call ~= nil and read_field(m, call) or nil
  local lent = handle ~= nil and X.handles[call.kind .. ":" .. handle] or nil
  if lent ~= nil and lent.owner == m.vmid then return lent.vm end
  return base
end

-- context.Resources.answered: a create's first reply that succeeded hands out a handle for the
-- create's VM (the latest create of a handle wins)
local function remember_handle(X, ex, r)
  local made = G.HANDLE_REPLY[r.msg_id]
  if made == nil or r.err ~= 0 or lone(r) or ex.created == nil then return end
  local handle = read_field(r, made)
  if handle ~= nil then X.handles[made.kind .. ":" .. handle] = {owner = ex.vmid, vm = ex.created} end
end

local function context_step(X, m, final)
  m.ex = nil
  if garbage(m) then
    m.vm = own_vm(m, final)
    m.vm_base = m.vm
  elseif m.mtype == 1 and m.seq ~= nil then
    m.ex = m
    m.vm = request_vm(X, m, final)
  elseif m.mtype == 2 and m.seq ~= nil and m.request ~= nil then
    m.ex = m.request
    if m.request.vm == nil and m.allocated ~= nil and not m.dup_reply then  -- RM chose the VMID
      m.request.vm, m.request.vm_base = m.allocated, m.allocated
    end
    m.vm, m.vm_base = m.request.vm, m.request.vm_base
    if not m.dup_reply then remember_handle(X, m.request, m) end
  elseif m.mtype == 0 and m.seq ~= nil then  -- a stray continuation: the latest exchange of its key
    m.ex = X.latest[fmt("%s:%d:%d", m.client, m.seq, m.msg_id)]
    m.vm = m.ex and m.ex.vm or own_vm(m, final)
    m.vm_base = m.ex and m.ex.vm_base or m.vm
  else
    m.vm = own_vm(m, final)
    m.vm_base = m.vm
  end
  if m.ex ~= nil and m.mtype ~= 0 then X.latest[fmt("%s:%d:%d", m.client, m.seq, m.msg_id)] = m.ex end
end

local function new_context()
  return {handles = {}, latest = {}}
end

-- The five values shown for message m (nil: not known, as NA in ghrm).
local function generated(m)
  local g = {vm = m.vm}
  local ex = m.ex
  local r
  if ex ~= nil then
    g.request_frame = ex.frames[1]
    r = ex.reply
    if r ~= nil then g.latency = r.rel[1] - ex.rel[1] end
  elseif m.mtype == 2 and m.seq ~= nil and not garbage(m) then  -- an orphan reply answers itself
    r = m
  end
  if r ~= nil then
    g.reply_frame = r.frames[1]
    if r.err ~= nil and r.err > 0 then g.errno = G.ERRNO[r.err] or G.ERRNO_DEFAULT end
  end
  return g
end

pair_online = function(m)
  local P = ST.online
  P.n = P.n + 1
  m.row = P.n
  client_step(P, m)
  pair_step(P, m, {})
  context_step(ST.context, m, false)
end

-- transactions._abandoned, in one pass: a request that reuses the key of a request its client
-- gave up on is a new call. Given up: open longer than G.C.give_up seconds, or the client got a
-- reply to a later request meanwhile. Such a reply's request comes after the first, hence so does
-- the reply: the highest request row answered so far per client says it (linear, no rescans).
local function abandoned(rows)
  local split, any, answered = {}, false, {}
  for _, m in ipairs(rows) do
    local first = m.reuses
    if first ~= nil then
      local late = (answered[m.client] or 0) > first.row
      if late or m.rel[1] - first.rel[1] > C.give_up then split[m], any = true, true end
    end
    if m.mtype == 2 and m.request ~= nil and m.request.row > (answered[m.client] or 0) then
      answered[m.client] = m.request.row
    end
  end
  return split, any
end

local function pair_all(rows)
  for i, m in ipairs(rows) do m.row = i end
  client_keys(rows)
  pair_keyed(rows, {})
  local split, any = abandoned(rows)
  if any then pair_keyed(rows, split) end
end

local function new_message(num, rec, data, problems)
  local m = {frames = {num}, rel = {rec.rel}, chunks = {data}, vmid = rec.vmid, dir = rec.dir,
             problems = problems, received = 0}
  if #data >= C.header_size then
    local b1 = data:byte(2)
    m.mtype = b1 % 4
    m.frags = floor(b1 / 4)
    m.seq = data:byte(3) + data:byte(4) * 256
    m.msg_id = data:byte(5) + data:byte(6) * 256 + data:byte(7) * 65536 + data:byte(8) * 16777216
  end
  ST.frames[num] = m
  return m
end

local function abort(key, why)
  local m = ST.flights[key]
  ST.flights[key] = nil
  ST.n_flights = ST.n_flights - 1
  ST.flight_bytes = ST.flight_bytes - m.size
  problem(m.problems, "fragment", fmt(
    "incomplete: %d of %d continuation(s) received for the message from frame %d; %s",
    m.received, m.frags, m.frames[1], why))
  complete(m)
end

-- The key of the message in progress that started first (at most max_in_flight to look at).
local function oldest_flight()
  local oldest, okey = nil, nil
  for k, f in pairs(ST.flights) do
    if oldest == nil or f.started < oldest.started then oldest, okey = f, k end
  end
  return okey
end

-- Reassembler._shed: give up the oldest messages in progress while together they hold too much
-- (ghrm's weight of a record: its bytes kept twice; tshark does not see pcapng comments).
local function shed(num)
  while ST.flight_bytes > C.max_in_flight_bytes and ST.n_flights > 0 do
    abort(oldest_flight(), fmt("the messages in progress held more than %d bytes at frame %d; "
      .. "the oldest was given up", C.max_in_flight_bytes, num))
  end
end

-- dissector/capture/reassembly.py Reassembler.feed, record by record in frame order.
local function feed(num, rec, data)
  ST.finalized = false  -- more records (a live capture, a statistics window opened while loading)
  local problems = {}
  if #data > C.max_msg then
    problem(problems, "length", fmt("frame %d: message-queue message is %d bytes, more than %d",
      num, #data, C.max_msg))
  end
  if #data < C.header_size then
    problem(problems, "header", fmt("frame %d: %d byte(s), shorter than the 8-byte RPC header", num, #data))
    complete(new_message(num, rec, data, problems))
    return
  end
  local b1 = data:byte(2)
  local mtype, frags = b1 % 4, floor(b1 / 4)
  local seq = data:byte(3) + data:byte(4) * 256
  local msg_id = data:byte(5) + data:byte(6) * 256 + data:byte(7) * 65536 + data:byte(8) * 16777216
  local key = rec.vmid .. ":" .. rec.dir
  local flight = ST.flights[key]
  if mtype ~= 0 then
    if flight ~= nil then
      abort(key, fmt("a new message (frame %d) arrived before %d continuation(s)", num,
        flight.frags - flight.received))
    end
    if frags > C.max_fragments then
      problem(problems, "header", fmt("frame %d: fragments=%d exceeds the maximum of %d", num, frags,
        C.max_fragments))
    end
    local m = new_message(num, rec, data, problems)
    if frags == 0 then
      complete(m)
      return
    end
    if ST.n_flights >= C.max_in_flight then  -- bounded memory, as ghrm: give up the oldest
      abort(oldest_flight(), fmt("more than %d queues had a message in progress at frame %d; the oldest was given up",
        C.max_in_flight, num))
    end
    ST.started = ST.started + 1
    m.started = ST.started
    ST.flights[key] = m
    ST.n_flights = ST.n_flights + 1
    m.size = 2 * #data
    ST.flight_bytes = ST.flight_bytes + m.size
    shed(num)
    return
  end
  if flight == nil then
    problem(problems, "fragment", fmt(
      "frame %d: continuation (seq %d, msg_id 0x%08x) with no message in progress", num, seq, msg_id))
    complete(new_message(num, rec, data, problems))
    return
  end
  if seq ~= flight.seq or msg_id ~= flight.msg_id or frags ~= flight.frags then
    problem(problems, "fragment", fmt(
      "frame %d: continuation (seq %d, msg_id 0x%08x, fragments %d) does not match the message in "
      .. "progress from frame %d (seq %d, msg_id 0x%08x, fragments %d)", num, seq, msg_id, frags,
      flight.frames[1], flight.seq, flight.msg_id, flight.frags))
    complete(new_message(num, rec, data, problems))
    return
  end
  flight.frames[#flight.frames + 1] = num
  flight.rel[#flight.rel + 1] = rec.rel
  flight.chunks[#flight.chunks + 1] = data:sub(C.header_size + 1)
  append_all(flight.problems, problems)
  flight.received = flight.received + 1
  flight.size = flight.size + 2 * #data
  ST.flight_bytes = ST.flight_bytes + 2 * #data
  ST.frames[num] = flight
  if flight.received == flight.frags then
    ST.flights[key] = nil
    ST.n_flights = ST.n_flights - 1
    ST.flight_bytes = ST.flight_bytes - flight.size
    complete(flight)
  else
    shed(num)
  end
end

-- End of the first pass: messages still waiting for continuations are complete as they are;
-- then requests and replies are paired in the order of their first record, as ghrm does.
local function finalize()
  if ST.finalized then return end
  ST.finalized = true
  local open = {}
  for key, m in pairs(ST.flights) do open[#open + 1] = {key, m.frames[1]} end
  table.sort(open, function(a, b) return a[2] < b[2] end)
  for _, item in ipairs(open) do abort(item[1], "the capture ended") end
  table.sort(ST.msgs, function(a, b) return a.frames[1] < b.frames[1] end)
  pair_all(ST.msgs)
  local X = new_context()  -- the generated fields again, in frame order, with every reply known
  for _, m in ipairs(ST.msgs) do context_step(X, m, true) end
end

-- ====== the payload interpreter ======
-- Values are read from the message's bytes as a Lua string; the Tvb is only used to add tree
-- items (each Tvb call crosses into Wireshark, which is what a Lua dissector's time goes to).
local function le_int(data, off, size)
  local value = 0
  for i = off + size, off + 1, -1 do value = value * 256 + data:byte(i) end
  return value
end

local function flag_names(value, names)
  local parts, rest = {}, value
  local bits = {}
  for b in pairs(names) do bits[#bits + 1] = b end
  table.sort(bits)
  for _, b in ipairs(bits) do
    if b ~= 0 and value % (b * 2) >= b then
      parts[#parts + 1] = names[b]
      rest = rest - b
    end
  end
  if rest ~= 0 then parts[#parts + 1] = fmt("0x%x", rest) end
  if #parts == 0 then return "0" end
  return table.concat(parts, "|")
end

local function show_value(fd, value, shown)
  if fd.en ~= nil then
    local names = G.E[fd.en]
    if G.FLAGS[fd.en] then return flag_names(value, names) end
    return names[value] or ("UNKNOWN_" .. (value < 2 ^ 53 and fmt("0x%x", value) or tostring(value)))
  end
  return shown
end

local decode_struct

-- dissector.protocol.text.printable: printable ASCII as itself, \\ \n \r \t, else \xNN.
local PRINT_ESCAPES = {[0x5C] = "\\\\", [0x0A] = "\\n", [0x0D] = "\\r", [0x09] = "\\t"}
local function printable(s)
  local out = {}
  for i = 1, #s do
    local b = s:byte(i)
    local e = PRINT_ESCAPES[b]
    if e ~= nil then
      out[#out + 1] = e
    elseif b >= 0x20 and b < 0x7F then
      out[#out + 1] = string.char(b)
    else
      out[#out + 1] = fmt("\\x%02x", b)
    end
  end
  return table.concat(out)
end

-- Entries of an RM list (dissector.layers.base.RMArrayField.getfield).
local function decode_array(fd, st, tvb, data, off, stop, tree, vals, own, kids)
  local count = nil
  if fd.cnt ~= nil then count = vals[fd.cnt] or 0 end
  local count_text = st.texts[fd.cnt] or tostring(count)
  local avail = stop - off
  local sid = fd.alts[1]
  if count ~= nil and count ~= 0 then
    for _, alt in ipairs(fd.alts) do
      local size = G.S[alt].fixed
      if size ~= nil and size > 0 and count * size == avail then sid = alt; break end
    end
  end
  local size = G.S[sid].fixed
  local start = off
  local list = tree:add(G.PF[fd.pf], tvb(off, 0))
  local n = 0
  if size ~= nil and size > 0 then
    local fit = floor(avail / size)
    local take = fit
    if count ~= nil then take = min(count, fit) end
    if count ~= nil and count > fit then
      local need = count < 2 ^ 53 and fmt("%d", count * size) or "more than 2^53"
      problem(own, "count", fmt("%s: %s=%s needs %s bytes for %s, %d left", st.name, fd.cnt, count_text,
        need, fd.n, avail))
    end
    for i = 1, take do
      local item = list:add(G.PF[fd.pe], tvb(off, size))
      local _, eown, ekids, text = decode_struct(sid, tvb, data, off, off + size, item, G.S[sid].name)
      item:append_text(fmt(" %d%s", i - 1, text))
      append_all(kids, eown); append_all(kids, ekids)
      off = off + size
    end
    n = take
    if count == nil and stop > off then
      problem(own, "trailing", fmt("%s: %d byte(s) after the last whole %s entry", st.name, stop - off, fd.n))
    end
  else
    while off < stop and (count == nil or n < count) do
      local item = list:add(G.PF[fd.pe], tvb(off, 0))
      local after, eown, ekids, text = decode_struct(sid, tvb, data, off, stop, item, G.S[sid].name)
      item:set_len(after - off)
      item:append_text(fmt(" %d%s", n, text))
      append_all(kids, eown); append_all(kids, ekids)
      n = n + 1
      if after == off then break end  -- an entry that consumes nothing would loop forever
      off = after
    end
    if count ~= nil and n < count then
      problem(own, "count", fmt("%s: %s=%s but only %d %s entries fit", st.name, fd.cnt, count_text, n, fd.n))
    end
  end
  list:set_len(off - start)
  list:append_text(fmt(": %d entr%s", n, n == 1 and "y" or "ies"))
  return off
end

-- Bytes, text, or a nested struct in a length-prefixed blob (RMBytesField, RMNestedField).
local function decode_bytes(fd, st, tvb, data, off, stop, tree, vals, own, kids)
  local avail = stop - off
  if fd.st ~= nil then
    local want = vals[fd.len] or 0
    if want > avail then
      problem(own, "count", fmt("%s: %s=%d but only %d byte(s) left for %s", st.name, fd.len, want, avail, fd.n))
    end
    local blob = min(want, avail)
    if blob > 0 then
      local item = tree:add(G.PF[fd.pf], tvb(off, blob))
      local after, eown, ekids, text = decode_struct(fd.st, tvb, data, off, off + blob, item, G.S[fd.st].name)
      item:append_text(text)
      if after < off + blob then
        problem(eown, "trailing", fmt("%s: %d byte(s) after the decoded words", G.S[fd.st].name, off + blob - after))
      end
      append_all(kids, eown); append_all(kids, ekids)
    end
    return off + blob, nil
  end
  local want
  if fd.len == nil then
    want = avail
  elseif type(fd.len) == "number" then
    want = fd.len
  else
    want = vals[fd.len] or 0
  end
  local before = #own
  if want > avail then
    problem(own, "count", fmt("%s: %s=%d but only %d byte(s) left for %s", st.name,
      type(fd.len) == "string" and fd.len or "layout", want, avail, fd.n))
  end
  local take = min(want, avail)
  local range = tvb(off, take)
  local shown
  tree:add(G.PF[fd.pf], range)  -- the bytes exactly (a string field would stop at a NUL)
  if fd.tx then
    shown = printable(data:sub(off + 1, off + take))
    tree:add(G.PF[fd.tx], range, shown)
    shown = '"' .. shown .. '"'
  else
    shown = take > 0 and tostring(range:bytes()) or ""
  end
  off = off + take
  if #own == before and fd.al > 1 then  -- the zero padding that aligns the data (RMAlignPadField)
    local pad = min((fd.al - take % fd.al) % fd.al, stop - off)
    if pad > 0 then
      local item = tree:add(G.PF[fd.pad], tvb(off, pad))
      if data:sub(off + 1, off + pad):find("[^%z]") then
        item:add_proto_expert_info(EF.reserved, fmt("%s: the padding after %s is not zero", st.name, fd.n))
      end
    end
    off = off + pad
  end
  return off, shown
end

-- One struct over tvb[off, stop). Returns the offset after it, its own problems, its entries'
-- problems (ghrm lists own problems first) and a short text for the tree and Info column.
decode_struct = function(sid, tvb, data, off, stop, tree, what, top)
  local st = G.S[sid]
  local own, kids, vals, shown, texts = {}, {}, {}, {}, {}
  local stopped = false
  local label = what or st.name

  local function leaf(fd)
    local k = fd.k
    if k == "i" then
      local left = stop - off
      if left < fd.sz then
        problem(own, "truncated", fmt("%s: field %s needs %d byte(s), %d left", label, fd.n, fd.sz, left))
        return
      end
      local range = tvb(off, fd.sz)
      local item = tree:add_le(G.PF[fd.pf], range)
      local value, text
      if fd.sz == 8 then
        local v64 = range:le_uint64()
        value, text = v64:tonumber(), fd.hx and ("0x" .. v64:tohex():gsub("^0+(.)", "%1")) or tostring(v64)
      else
        value = le_int(data, off, fd.sz)
        text = fd.hx and fmt("0x%x", value) or tostring(value)
      end
      vals[fd.n] = value
      texts[fd.n] = text
      if fd.res and value ~= 0 then
        item:add_proto_expert_info(EF.reserved, fmt("%s: reserved field %s = %s", label, fd.n, text))
      end
      local named = show_value(fd, value, text)
      if fd.en ~= nil and (G.FLAGS[fd.en] or fd.sz == 8) then item:append_text(" (" .. named .. ")") end
      shown[fd.n] = named
      off = off + fd.sz
    elseif k == "a" then
      off = decode_array(fd, {name = label, texts = texts}, tvb, data, off, stop, tree, vals, own, kids)
    elseif k == "b" then
      local text
      off, text = decode_bytes(fd, {name = label}, tvb, data, off, stop, tree, vals, own, kids)
      shown[fd.n] = text
    else
      error("gunyah_rm: unknown layout descriptor kind " .. tostring(k))
    end
  end

  local function run(list)
    for _, fd in ipairs(list) do
      if stopped then return end
      if fd.k == "o" then
        if off < stop then run(fd.f) end
      elseif fd.k == "w" then
        if fd.vals[vals[fd.ref] or -1] then run(fd.f) end
      elseif fd.k == "x" then  -- BySize: the case whose size is the payload's exact length
        run(G.S[fd.cases[stop - off] or fd.dflt].f)
      else
        local before = #own
        leaf(fd)
        if #own > before then stopped = true end
      end
    end
  end

  run(st.f)
  if top and off < stop and #own == 0 then
    problem(own, "trailing", fmt("%s: %d byte(s) after the end of the layout", label, stop - off))
  end
  local parts = {}
  local names = st.sum
  if not top and #names == 0 then
    names = {}
    for _, fd in ipairs(st.f) do
      if fd.k == "i" and #names < 3 and fd.n:sub(1, 1) ~= "_" and shown[fd.n] ~= nil then names[#names + 1] = fd.n end
    end
  end
  for _, name in ipairs(names) do
    if shown[name] ~= nil then parts[#parts + 1] = name .. "=" .. shown[name] end
  end
  local text = #parts > 0 and (" " .. table.concat(parts, " ")) or ""
  return off, own, kids, text
end

-- ====== one whole message (dissector.layers: RMHeader, RMReply, dispatch) ======
local function decode_message(tvb, data, m, root)
  local len = #data
  local out = {problems = {}, text = ""}
  local problems = out.problems
  if len < C.header_size then
    problem(problems, "header", fmt("message is %d byte(s), shorter than the 8-byte RPC header", len))
    out.info = fmt("Malformed message (%d byte(s))", len)
    return out
  end
  local b0 = data:byte(1)
  root:add(HF.header_words, tvb(0, 1))
  root:add(HF.api_version, tvb(0, 1))
  root:add(HF.fragments, tvb(1, 1))
  root:add(HF.type, tvb(1, 1))
  root:add_le(HF.seq, tvb(2, 2))
  root:add_le(HF.msg_id, tvb(4, 4))
  local b1 = data:byte(2)
  local mtype, frags = b1 % 4, floor(b1 / 4)
  local seq = le_int(data, 2, 2)
  local id = le_int(data, 4, 4)
  root:add(HF.msg_name, tvb(4, 4), msg_name(id)):set_generated()
  if proto.prefs.aliases then  -- so filters written with any source's name work
    for _, alias in ipairs(G.MSG_ALIASES[id] or {}) do root:add(HF.msg_alias, tvb(4, 4), alias):set_hidden() end
  end
  out.mtype, out.seq, out.msg_id = mtype, seq, id
  local words, api = floor(b0 / 16), b0 % 16
  if api ~= C.api_version or words ~= C.header_words then
    problem(problems, "header", fmt("api byte 0x%02x: version %d, header words %d (expected 0x21)", b0, api, words))
  end
  if frags > C.max_fragments then
    problem(problems, "header", fmt("fragments=%d exceeds the maximum of %d", frags, C.max_fragments))
  end
  out.info = fmt("%s %s seq=%d", TYPE_WORDS[mtype], msg_name(id), seq)
  local plen = len - C.header_size
  local lone = mtype == 0 or (frags > 0 and len <= C.max_msg)
  local layouts = G.M[id] or {}
  if lone then
    if plen > 0 then
      local ptree = root:add(HF.payload, tvb(C.header_size))
      ptree:add(HF.data, tvb(C.header_size))
    end
    out.info = out.info .. " [fragment]"
    return out
  end
  if plen == 0 then
    local need, what = 0, msg_name(id)
    if mtype == 2 then
      need, what = 4, what .. " reply"
    else
      local role = mtype == 1 and "req" or (mtype == 3 and "ntf" or nil)
      local sid = role and layouts[role]
      if sid ~= nil then need = G.S[sid].min end
      what = what .. (mtype == 1 and " request" or " notification")
    end
    if need > 0 then
      problem(problems, "truncated", fmt("%s: payload is empty, its layout needs %d byte(s)", what, need))
    end
    return out
  end
  local off, role = C.header_size, nil
  if mtype == 2 then
    if plen < 4 then
      problem(problems, "truncated", fmt("reply has %d payload byte(s), the error code needs 4", plen))
      local ptree = root:add(HF.payload, tvb(off))
      ptree:add(HF.data, tvb(off))
      return out
    end
    local code = le_int(data, off, 4)
    local item = root:add_le(HF.err_code, tvb(off, 4))
    root:add(HF.err_name, tvb(off, 4), err_name(code)):set_generated()
    if proto.prefs.aliases then
      for _, alias in ipairs(G.ERR_ALIASES[code] or {}) do root:add(HF.err_alias, tvb(off, 4), alias):set_hidden() end
    end
    out.err = code
    out.info = out.info .. " err=" .. err_name(code)
    if code ~= 0 then
      item:add_proto_expert_info(EF.error_reply, fmt("%s replied %s (0x%x)", msg_name(id), err_name(code), code))
    end
    off = off + 4
    if off == len then
      local sid = code == 0 and layouts["rep"] or nil
      if sid ~= nil and G.S[sid].min > 0 then
        problem(problems, "truncated",
          fmt("%s reply: reply data is empty, its layout needs %d byte(s)", msg_name(id), G.S[sid].min))
      end
      return out
    end
    role = code ~= 0 and "err" or "rep"
  else
    role = mtype == 1 and "req" or "ntf"
  end
  local sid = layouts[role]
  local ptree = root:add(HF.payload, tvb(off))
  if sid == nil then  -- unknown layout, or error data no layout declares: kept raw, not malformed
    ptree:add(HF.data, tvb(off))
    return out
  end
  ptree:append_text(": " .. msg_name(id) .. " " .. ROLE_WORDS[role])
  local what = msg_name(id) .. " " .. ROLE_WORDS[role]
  local _, own, kids, text = decode_struct(sid, tvb, data, off, len, ptree, what, true)
  append_all(problems, own)
  append_all(problems, kids)
  out.info = out.info .. text
  return out
end

-- ====== link layer: capture header, upper PDU, DLT_USER ======
local function split_record(tvb, pinfo)
  local raw = tvb:raw()
  local n = #raw
  local p2p = pinfo.p2p_dir
  local fallback = 0
  if p2p == 0 then fallback = 1 elseif p2p == 1 then fallback = 2 end
  -- Called straight from the wtap_encap table for a DLT 147 record: always a capture header.
  local direct = pinfo.match_uint == wtap.USER0 and n == pinfo.caplen
  if not direct and raw:byte(1) == 0x21 then
    return {off = 0, bare = true, dir = fallback, vmid = 0xFFFF, fallback = true, data = raw}
  end
  if n < 4 then return nil end
  local dirbyte = raw:byte(2)
  local rec = {off = 4, version = raw:byte(1), dirbyte = dirbyte, vmid = le_int(raw, 2, 2), dir = 0,
               data = raw:sub(5)}
  if dirbyte == 1 or dirbyte == 2 then rec.dir = dirbyte end
  if rec.dir == 0 and fallback ~= 0 then rec.dir, rec.fallback = fallback, true end
  return rec
end

local function add_capture_header(root, tvb, rec)
  if rec.bare then
    local item = root:add(HF.direction, tvb(0, 0), rec.dir)
    item:set_generated()
    root:add(HF.client_vmid, tvb(0, 0), rec.vmid):set_generated()
    return
  end
  local item = root:add(HF.version, tvb(0, 1))
  if rec.version ~= 1 then
    item:add_proto_expert_info(EF.capture_header, fmt("capture header version %d, expected 1", rec.version))
  end
  item = root:add(HF.direction, tvb(1, 1), rec.dir)
  if rec.fallback then item:append_text(" (from the packet direction)") end
  if rec.dirbyte > 2 then
    item:add_proto_expert_info(EF.capture_header, fmt("capture header direction %d is not 0, 1 or 2", rec.dirbyte))
  end
  root:add_le(HF.client_vmid, tvb(2, 2))
end

local function latency(req, rep)
  local d = rep.rel[1] - req.rel[1]
  local secs = floor(d)
  local nsecs = floor((d - secs) * 1e9 + 0.5)
  if nsecs >= 1000000000 then secs, nsecs = secs + 1, nsecs - 1000000000 end
  return NSTime.new(secs, nsecs)
end

local function last_frame(m)
  return m.frames[#m.frames]
end

-- Links carry ghrm's message numbers (first records). In the first pass (tshark without -2, a
-- display filter applied while a file loads) a reply is already linked to its request, but a
-- request's reply is still to come: the tree says so instead of calling it unanswered.
local function add_pairing(root, tvb, m)
  local z = tvb(0, 0)
  if m.mtype == 1 and m.seq ~= nil then
    if m.reply ~= nil then
      root:add(HF.response_in, z, m.reply.frames[1]):set_generated()
    elseif not ST.finalized then
      root:add(z, "[Response: known once the whole capture is read (first pass); tshark: use -2]")
    elseif m.reuses ~= nil then
      root:add_proto_expert_info(EF.unanswered, fmt("%s request seq=%d was never answered (a retransmission?)",
        msg_name(m.msg_id), m.seq))
    else
      root:add_proto_expert_info(EF.unanswered, fmt("%s request seq=%d was never answered", msg_name(m.msg_id), m.seq))
    end
    if m.reuses ~= nil then
      root:add_proto_expert_info(EF.duplicate, fmt("seq=%d reused while the request in frame %d was still open",
        m.seq, m.reuses.frames[1]))
    end
  elseif m.mtype == 2 and m.seq ~= nil then
    if m.request ~= nil then
      root:add(HF.request_in, z, m.request.frames[1]):set_generated()
      if m.dup_reply then  -- says nothing about how long the call took: no time
        root:add_proto_expert_info(EF.duplicate, fmt("another reply to the request in frame %d", m.request.frames[1]))
      else
        root:add(HF.time, z, latency(m.request, m)):set_generated()
      end
    else
      root:add_proto_expert_info(EF.no_request, fmt("no request with seq=%d for %s", m.seq, msg_name(m.msg_id)))
    end
  end
end

-- The generated fields, as ghrm's jsonl has them. A request's reply fields need the whole
-- capture (tshark -2, or the GUI once the file is read); a reply has them in the first pass.
local function add_generated(root, tvb, m)
  local z = tvb(0, 0)
  local g = generated(m)
  if g.vm ~= nil then
    root:add(HX.vm, z, g.vm):set_generated()
  elseif not ST.finalized and m.mtype == 1 and m.msg_id == G.ALLOC.msg_id then  -- RM chooses the VMID
    root:add(z, "[VM: known from the reply (first pass); a filter on gunyah_rm.vm applied while the file "
      .. "loads misses this request: apply it again; tshark: use -2]")
  end
  if g.request_frame ~= nil then root:add(HX.request_frame, z, g.request_frame):set_generated() end
  if g.reply_frame ~= nil then root:add(HX.reply_frame, z, g.reply_frame):set_generated() end
  if g.latency ~= nil then root:add(HX.latency, z, g.latency):set_generated() end
  if g.errno ~= nil then root:add(HX.errno, z, g.errno):set_generated() end
end

-- The message as a Tvb: the record itself, or the reassembled bytes as a new data source.
local function message_tvb(tvb, rec, m, data)
  if #m.frames == 1 then return tvb(rec.off):tvb() end
  return ByteArray.new(data, true):tvb("Reassembled RM message")
end

-- Source and Destination columns: "VM 0x3" and "RM", from the capture header's direction, else
-- the message type (a request goes to RM, replies and notifications come from it).
local function set_endpoints(pinfo, rec, m)
  local dir = rec.dir
  if dir ~= 1 and dir ~= 2 then
    if m.mtype == 1 then dir = 1 elseif m.mtype == 2 or m.mtype == 3 then dir = 2 end
  end
  local vm = rec.vmid == 0xFFFF and "VM ?" or fmt("VM 0x%x", rec.vmid)
  if dir == 1 then
    pinfo.cols.src:set(vm)
    pinfo.cols.dst:set("RM")
  elseif dir == 2 then
    pinfo.cols.src:set("RM")
    pinfo.cols.dst:set(vm)
  else
    pinfo.cols.src:set(vm)
    pinfo.cols.dst:set("RM?")
  end
end

local function show_fragment(tvb, pinfo, root, rec, m)
  local body = tvb(rec.off)
  local n = body:len()
  if n >= C.header_size then
    root:add(HF.header_words, body(0, 1))
    root:add(HF.api_version, body(0, 1))
    root:add(HF.fragments, body(1, 1))
    root:add(HF.type, body(1, 1))
    root:add_le(HF.seq, body(2, 2))
    root:add_le(HF.msg_id, body(4, 4))
    if n > C.header_size then root:add(HF.fragment, body(C.header_size)) end
  end
  local where = ""
  if m.done then
    root:add(HF.reassembled_in, tvb(0, 0), last_frame(m)):set_generated()
    where = fmt(" (message in frame %d)", last_frame(m))
  end
  pinfo.cols.info:set(fmt("Fragment of %s seq=%d%s", msg_name(m.msg_id or 0), m.seq or 0, where))
end

function proto.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol = G.SHORT
  local root = tree:add(proto, tvb())
  local rec = split_record(tvb, pinfo)
  if rec == nil then
    root:add_proto_expert_info(EF.capture_header,
      fmt("record of %d bytes is shorter than the 4-byte capture header", tvb:len()))
    pinfo.cols.info:set("Record shorter than the capture header")
    return
  end
  local num = pinfo.number
  if not pinfo.visited then
    if ST.frames[num] == nil then
      rec.rel = pinfo.rel_ts
      feed(num, rec, rec.data)
    end
  else
    finalize()
  end
  add_capture_header(root, tvb, rec)
  local m = ST.frames[num]
  if m == nil then return end
  set_endpoints(pinfo, rec, m)
  if not m.done or last_frame(m) ~= num then
    show_fragment(tvb, pinfo, root, rec, m)
    return
  end
  local data = #m.chunks == 1 and m.chunks[1] or table.concat(m.chunks)
  local mtvb = message_tvb(tvb, rec, m, data)
  root:add(HX.frame, tvb(0, 0), m.frames[1]):set_generated()
  for _, f in ipairs(m.frames) do root:add(HF.frames, tvb(0, 0), f):set_generated() end
  if #m.frames > 1 then root:add(HF.length, tvb(0, 0), #data):set_generated() end
  local out = decode_message(mtvb, data, m, root)
  local problems = {}
  append_all(problems, m.problems)
  append_all(problems, out.problems)
  for _, p in ipairs(problems) do
    local item = root:add(HF.malformed, tvb(0, 0), p[2])
    item:set_generated()
    item:add(HF.malformed_kind, tvb(0, 0), p[1]):set_generated()
    item:add_proto_expert_info(EF.malformed, p[1] .. ": " .. p[2])
  end
  add_pairing(root, tvb, m)
  add_generated(root, tvb, m)
  local info = out.info
  if #m.frames > 1 then info = info .. fmt(" [%d records]", #m.frames) end
  if #problems > 0 then info = info .. " [Malformed]" end
  pinfo.cols.info:set(info)
  root:append_text(", " .. info)
end

DissectorTable.get("wtap_encap"):add(wtap.USER0, proto)

-- ====== statistics: -z gunyah_rm,srt|errors|conv[,filter] and Statistics > Gunyah RM ======
-- The tables ghrm prints, from the same messages: the SRT table of dissector/analysis/srt.py
-- (per request msg_id: every request, answered or not; how many first replies carry a non-zero
-- error code (a reply whose code was lost is "malformed", not an error); the requests never
-- answered, retransmitted ones included; latencies of the answered ones, in seconds), the errors table of
-- dissector/analysis/errors.py (`ghrm errors`: every reply with a non-zero error code, per
-- call and code), and one conversation per client VM (its queue pair to RM).
local RULE = string.rep("=", 116)

local function srt_lines(seen, compact)
  local rows, ids = {}, {}
  for _, m in ipairs(ST.msgs) do
    if m.mtype == 1 and m.seq ~= nil and seen(m) then
      local row = rows[m.msg_id]
      if row == nil then
        row = {calls = 0, answered = 0, errors = 0, unanswered = 0, sum = 0}
        rows[m.msg_id] = row
        ids[#ids + 1] = m.msg_id
      end
      local r = m.reply
      row.calls = row.calls + 1
      if r == nil then
        row.unanswered = row.unanswered + 1
      else
        local d = r.rel[1] - m.rel[1]
        row.answered = row.answered + 1
        if r.err ~= nil and r.err ~= 0 then row.errors = row.errors + 1 end  -- lost code: malformed
        row.sum = row.sum + d
        if row.min == nil or d < row.min then row.min = d end
        if row.max == nil or d > row.max then row.max = d end
      end
    end
  end
  table.sort(ids)
  if compact then  -- a narrow window: times in ms, no id column
    local out = {fmt("%-24s %6s %6s %6s %9s %9s %9s", "Call", "Calls", "Errors", "Unans", "Min ms", "Avg ms", "Max ms")}
    for _, id in ipairs(ids) do
      local r = rows[id]
      local times = r.answered > 0 and fmt("%9.3f %9.3f %9.3f", r.min * 1e3, r.sum / r.answered * 1e3, r.max * 1e3)
        or fmt("%9s %9s %9s", "-", "-", "-")
      out[#out + 1] = fmt("%-24s %6d %6d %6d %s", msg_name(id), r.calls, r.errors, r.unanswered, times)
    end
    return out
  end
  local out = {fmt("%-10s  %-32s %7s %7s %10s %12s %12s %12s %12s", "Index", "Procedure", "Calls", "Errors",
    "Unanswered", "Min SRT (s)", "Max SRT (s)", "Avg SRT (s)", "Sum SRT (s)")}
  for _, id in ipairs(ids) do
    local r = rows[id]
    local times = fmt("%12s %12s %12s %12.6f", "-", "-", "-", 0)
    if r.answered > 0 then
      times = fmt("%12.6f %12.6f %12.6f %12.6f", r.min, r.max, r.sum / r.answered, r.sum)
    end
    out[#out + 1] = fmt("0x%08x  %-32s %7d %7d %10d %s", id, msg_name(id), r.calls, r.errors, r.unanswered, times)
  end
  return out
end

local function errno_of(code)
  return G.ERRNO[code] or G.ERRNO_DEFAULT
end

local function error_lines(seen)
  local rows, list = {}, {}
  for _, m in ipairs(ST.msgs) do
    if m.err ~= nil and m.err ~= 0 and not garbage(m) and seen(m) then
      local key = fmt("%d:%d", m.msg_id, m.err)
      local row = rows[key]
      if row == nil then
        row = {id = m.msg_id, code = m.err, count = 0, frames = {}, vms = {}, vmlist = {}}
        rows[key] = row
        list[#list + 1] = row
      end
      row.count = row.count + 1
      row.first = row.first or m.rel[1]
      row.last = m.rel[1]
      row.frames[#row.frames + 1] = tostring(m.frames[1])
      local vm = m.vm_base  -- ghrm's errors list the messages' vmid (rule 1 not applied)
      if vm ~= nil and not row.vms[vm] then
        row.vms[vm] = true
        row.vmlist[#row.vmlist + 1] = vm
      end
    end
  end
  table.sort(list, function(a, b)
    if a.count ~= b.count then return a.count > b.count end
    if a.id ~= b.id then return a.id < b.id end
    return a.code < b.code
  end)
  local out = {fmt("%-32s %-24s %10s %-10s %6s %12s %12s  %-14s %s", "Call", "Error", "Code", "Errno", "Count",
    "First (s)", "Last (s)", "VMs", "Frames")}
  for _, r in ipairs(list) do
    table.sort(r.vmlist)
    local vms = {}
    for _, v in ipairs(r.vmlist) do vms[#vms + 1] = fmt("0x%x", v) end
    out[#out + 1] = fmt("%-32s %-24s %10s %-10s %6d %12.6f %12.6f  %-14s %s", msg_name(r.id), err_name(r.code),
      fmt("0x%x", r.code), errno_of(r.code), r.count, r.first, r.last, #vms > 0 and table.concat(vms, ",") or "-",
      table.concat(r.frames, ","))
  end
  return out
end

-- One conversation per client VM: what Statistics > Conversations shows for IP hosts (Wireshark
-- 4.0 gives Lua dissectors no conversation table of their own).
local function conv_lines(seen)
  local rows, list = {}, {}
  for _, m in ipairs(ST.msgs) do
    if seen(m) then
      local row = rows[m.vmid]
      if row == nil then
        row = {vmid = m.vmid, n = {[1] = 0, [2] = 0, [3] = 0}, bytes = {[0] = 0, [1] = 0, [2] = 0}, msgs = 0}
        rows[m.vmid] = row
        list[#list + 1] = row
      end
      row.msgs = row.msgs + 1
      if m.mtype ~= nil and row.n[m.mtype] ~= nil then row.n[m.mtype] = row.n[m.mtype] + 1 end
      local size = 0
      for _, c in ipairs(m.chunks) do size = size + #c end
      row.bytes[m.dir] = (row.bytes[m.dir] or 0) + size
      row.first = row.first or m.rel[1]
      row.last = m.rel[#m.rel]
    end
  end
  table.sort(list, function(a, b) return a.vmid < b.vmid end)
  local out = {fmt("%-10s %-4s %9s %9s %9s %9s %12s %12s %12s %12s", "Address A", "B", "Messages", "Requests",
    "Replies", "Notif.", "Bytes A->B", "Bytes B->A", "Start (s)", "Duration (s)")}
  for _, r in ipairs(list) do
    local vm = r.vmid == 0xFFFF and "VM ?" or fmt("VM 0x%x", r.vmid)
    out[#out + 1] = fmt("%-10s %-4s %9d %9d %9d %9d %12d %12d %12.6f %12.6f", vm, "RM", r.msgs, r.n[1], r.n[2],
      r.n[3], r.bytes[1], r.bytes[2], r.first, r.last - r.first)
  end
  return out
end

-- ====== lifecycles: dissector/analysis/lifecycles.py, the summary rows (`ghrm lifecycle --summary`) ======
-- Evidence in ghrm's order (frame, then kind): a call's reply (successful state calls, error
-- replies of any call), VM_STATUS, VM_EXITED, a call never answered. The VM of a call is its
-- gunyah_rm.vm, of a notification its payload vmid (else its client). What only ghrm's findings
-- use (states held too long, invalid transitions, hung boots, exit texts) is not rebuilt here.
local L = G.LIFE
local NAN = 0 / 0

-- a lifecycle payload column (analysis.fields.payload_fields, read as fastpath._gather): nil if absent
local function life_field(m, column)
  if m.mtype == nil or lone(m) then return nil end
  local places = L.F[column][m.mtype]
  local w = places and places[m.msg_id]
  if w == nil then return nil end
  local have = #bytes_of(m) - C.header_size
  if have < w.off + w.sz then return nil end
  if w.lo ~= nil then
    if have < w.lo + w.ls then return nil end
    local blob = read_field(m, {off = w.lo, sz = w.ls})
    if min(blob, have - w.bo) < w.off + w.sz - w.bo then return nil end
  end
  return read_field(m, w)
end

local function life_events(seen)
  local events = {}
  local function add(frame, kind, e)
    e.frame, e.kind, e.order = frame, kind, #events + 1
    events[#events + 1] = e
  end
  for _, m in ipairs(ST.msgs) do
    if seen(m) and m.mtype == 1 and m.seq ~= nil and not garbage(m) and m.vm ~= nil then
      local r = m.reply
      if r == nil then
        add(m.frames[1], 4, {name = msg_name(m.msg_id), vmid = m.vm})
      elseif r.err ~= nil and (r.err ~= 0 or L.state_calls[m.msg_id]) then
        add(r.frames[1], 1, {id = m.msg_id, vmid = m.vm, time = r.rel[1], ok = r.err == 0, err = r.err,
          req = {frame = m.frames[1], time = m.rel[1], auth_mech = life_field(m, "auth_mech"),
            stop_flags = life_field(m, "stop_flags")}})
      end
    elseif seen(m) and m.mtype == 3 and m.vm ~= nil then
      if m.msg_id == L.id.VM_STATUS then
        local status = life_field(m, "vm_status")
        if status ~= nil then add(m.frames[1], 2, {vmid = m.vm, status = status, time = m.rel[1]}) end
      elseif m.msg_id == L.id.VM_EXITED then
        add(m.frames[1], 3, {vmid = m.vm, exit_type = life_field(m, "exit_type"), time = m.rel[1]})
      end
    end
  end
  table.sort(events, function(a, b)
    if a.frame ~= b.frame then return a.frame < b.frame end
    if a.kind ~= b.kind then return a.kind < b.kind end
    return a.order < b.order
  end)
  return events
end

local function enum_name(names, value)
  return names[value] or fmt("UNKNOWN_0x%x", value)
end

-- lifecycles._Rebuild, the parts the summary needs
local function rebuild(events)
  local M = {current = {}, done = {}, last_done = {}, count = {}, told = {}}
  for _, e in ipairs(events) do
    if e.kind == 2 then M.told[e.vmid] = true end
  end
  local function instance(vmid, time)
    local inst = M.current[vmid]
    if inst == nil then
      M.count[vmid] = (M.count[vmid] or 0) + 1
      inst = {vmid = vmid, number = M.count[vmid], first_seen = time, allocated_at = NAN, deallocated_at = NAN,
        intervals = {}, errors = {}, error_keys = {}, n_errors = 0, unanswered = 0}
      M.current[vmid] = inst
    end
    return inst
  end
  local function state_of(inst)
    local last = inst.intervals[#inst.intervals]
    return last and last[1]
  end
  local function set_state(inst, state, time)
    if state_of(inst) ~= state then inst.intervals[#inst.intervals + 1] = {state, time} end
  end
  local function close(inst)
    M.current[inst.vmid] = nil
    M.done[#M.done + 1] = inst
    M.last_done[inst.vmid] = inst
  end
  local function failed(inst, text)
    if inst.first_failure == nil then inst.first_failure = text end
  end
  for _, e in ipairs(events) do
    local inst = M.current[e.vmid]
    if e.kind == 1 and not e.ok then
      if inst ~= nil then
        local key = fmt("%s:%s", G.RM_NAMES[e.id] or msg_name(e.id), err_name(e.err))
        if inst.errors[key] == nil then
          inst.errors[key] = 0
          inst.error_keys[#inst.error_keys + 1] = key
        end
        inst.errors[key] = inst.errors[key] + 1
        inst.n_errors = inst.n_errors + 1
        failed(inst, fmt("%s %s (frame %d)", G.RM_NAMES[e.id] or msg_name(e.id), err_name(e.err), e.frame))
      end
    elseif e.kind == 1 and e.id == L.id.VM_ALLOCATE then
      if inst ~= nil and inst.alloc_frame == nil and inst.first_seen >= e.req.time then
        inst.allocated_at, inst.alloc_frame = e.req.time, e.req.frame  -- its VM_STATUS came first
      else
        if inst ~= nil then close(inst) end  -- reallocated without a VM_DEALLOCATE
        inst = instance(e.vmid, e.req.time)
        inst.allocated_at, inst.alloc_frame = e.req.time, e.req.frame
        set_state(inst, L.S.LOAD, e.time)
      end
    elseif e.kind == 1 and e.id == L.id.VM_DEALLOCATE then
      if inst ~= nil then
        inst.deallocated_at, inst.dealloc_frame = e.time, e.frame
        close(inst)
      end
    elseif e.kind == 1 then
      local state = L.implied[e.id]
      if e.id == L.id.VM_CONFIG_IMAGE then
        state = e.req.auth_mech == L.auth_platform and L.S.AUTH or L.S.INIT
      elseif e.id == L.id.VM_STOP and (e.req.stop_flags or 0) % (2 * L.stop_force) >= L.stop_force then
        state = L.S.EXITED
      end
      if state ~= nil and (not M.told[e.vmid] or e.id ~= L.id.VM_CONFIG_IMAGE) then  -- VM_STATUS says
        set_state(instance(e.vmid, e.time), state, e.time)
      elseif state ~= nil then
        instance(e.vmid, e.time)
      end
    elseif e.kind == 2 then
      local state = enum_name(G.LIFE_NAMES.vm_status, e.status)
      local last = M.last_done[e.vmid]
      if inst ~= nil or last == nil or last.dealloc_frame == nil or state == L.S.LOAD then
        set_state(instance(e.vmid, e.time), state, e.time)
      end
    elseif e.kind == 3 then
      inst = instance(e.vmid, e.time)
      inst.exit_type = e.exit_type ~= nil and enum_name(G.LIFE_NAMES.exit_type, e.exit_type) or nil
      set_state(inst, L.S.EXITED, e.time)
    elseif e.kind == 4 and inst ~= nil then
      inst.unanswered = inst.unanswered + 1
      failed(inst, fmt("%s unanswered (frame %d)", e.name, e.frame))
    end
  end
  local open = {}
  for _, inst in pairs(M.current) do open[#open + 1] = inst end
  for _, inst in ipairs(open) do close(inst) end
  table.sort(M.done, function(a, b)
    if a.vmid ~= b.vmid then return a.vmid < b.vmid end
    return a.number < b.number
  end)
  return M.done
end

-- lifecycles._Rebuild.summarise: one row per VM instance
local function summarise(inst, end_time)
  local closed = inst.dealloc_frame ~= nil
  local spans, names = {}, {}
  for k, iv in ipairs(inst.intervals) do
    local last = k == #inst.intervals
    local stop = last and (closed and inst.deallocated_at or end_time) or inst.intervals[k + 1][2]
    spans[k] = {state = iv[1], start = iv[2], stop = stop, ongoing = last and not closed}
    names[k] = iv[1]
  end
  local function first(state)
    for _, sp in ipairs(spans) do if sp.state == state then return sp.start end end
    return NAN
  end
  local run_time, last_run = NAN, nil
  for _, sp in ipairs(spans) do
    if sp.state == L.S.RUNNING then
      run_time = (run_time == run_time and run_time or 0) + (sp.stop - sp.start)
      last_run = sp
    end
  end
  local exited_at = (last_run ~= nil and not last_run.ongoing) and last_run.stop or NAN
  local ready_at, running_at = first(L.S.READY), first(L.S.RUNNING)
  local began = exited_at
  if began ~= began and running_at ~= running_at then  -- torn down before it ever ran
    for _, sp in ipairs(spans) do
      if L.teardown[sp.state] then began = sp.start; break end
    end
  end
  local calls = {}
  for _, key in ipairs(inst.error_keys) do
    local n = inst.errors[key]
    calls[#calls + 1] = n > 1 and fmt("%s x%d", key, n) or key
  end
  return {vmid = inst.vmid, instance = inst.number, allocated_at = inst.allocated_at,
    time_to_ready = ready_at - inst.allocated_at, boot_latency = running_at - inst.allocated_at,
    run_time = run_time, exit_type = inst.exit_type, teardown_time = inst.deallocated_at - began,
    final_state = closed and L.S.DEALLOCATED or (spans[#spans] and spans[#spans].state),
    states = table.concat(names, ">"), errors = inst.n_errors, unanswered = inst.unanswered,
    error_calls = #calls > 0 and table.concat(calls, ", ") or nil,
    first_failure = running_at ~= running_at and inst.first_failure or nil}
end

local function lifecycle_rows(seen)
  local end_time = NAN
  for _, m in ipairs(ST.msgs) do
    if end_time ~= end_time or m.rel[1] > end_time then end_time = m.rel[1] end
  end
  local rows = {}
  for _, inst in ipairs(rebuild(life_events(seen))) do rows[#rows + 1] = summarise(inst, end_time) end
  return rows
end

-- analysis/cli.py _failed: why a VM never ran, then the calls that failed
local function failed_text(r)
  local parts = {}
  if r.first_failure ~= nil then parts[#parts + 1] = "never RUNNING; first failed call: " .. r.first_failure end
  local first = r.first_failure and r.first_failure:gsub(" %(frame.*$", "") or "-"
  if r.error_calls ~= nil and r.error_calls:gsub(":", " ") ~= first then
    parts[#parts + 1] = "error replies: " .. r.error_calls
  end
  if r.unanswered > 0 and r.first_failure == nil then
    parts[#parts + 1] = fmt("%d call(s) unanswered", r.unanswered)
  end
  return table.concat(parts, "; ")
end

local function dash(x, scale, decimals)
  if x == nil or x ~= x then return "-" end
  return fmt("%." .. decimals .. "f", x * scale)
end

-- The table of `ghrm lifecycle --summary` (times in s since the capture start, durations as
-- labelled) with each VM's states, then "What failed" as ghrm prints it. The GUI window is
-- narrow: there, the numbers first, then each VM's final state, exit and states on two lines.
local function lifecycle_lines(seen, compact)
  local rows = lifecycle_rows(seen)
  local out = {fmt("%-6s %4s %10s %10s %10s %10s %-18s %12s %-12s %6s %5s  %s", "VMID", "Inst", "Allocated",
    "Ready(ms)", "Boot(ms)", "Run(s)", "Exit", "Teardown(ms)", "Final", "Errors", "Unans", "States")}
  if compact then
    out = {"Durations as ghrm lifecycle --summary prints them", "",
      fmt("%-5s %4s %9s %9s %9s %12s %3s %5s", "VMID", "Inst", "Ready(ms)", "Boot(ms)", "Run(s)", "Teardown(ms)",
        "Err", "Unans")}
  end
  local failures, states = {}, {}
  for _, r in ipairs(rows) do
    local vm = fmt("0x%x", r.vmid)
    local seq = r.states ~= "" and r.states or "-"
    if compact then
      out[#out + 1] = fmt("%-5s %4d %9s %9s %9s %12s %3d %5d", vm, r.instance, dash(r.time_to_ready, 1e3, 3),
        dash(r.boot_latency, 1e3, 3), dash(r.run_time, 1, 6), dash(r.teardown_time, 1e3, 3), r.errors,
        r.unanswered)
      states[#states + 1] = fmt("%s #%d  %s, exit %s", vm, r.instance, r.final_state or "-", r.exit_type or "-")
      states[#states + 1] = "    " .. seq
    else
      out[#out + 1] = fmt("%-6s %4d %10s %10s %10s %10s %-18s %12s %-12s %6d %5d  %s", vm, r.instance,
        dash(r.allocated_at, 1, 6), dash(r.time_to_ready, 1e3, 3), dash(r.boot_latency, 1e3, 3),
        dash(r.run_time, 1, 6), r.exit_type or "-", dash(r.teardown_time, 1e3, 3), r.final_state or "-", r.errors,
        r.unanswered, seq)
    end
    local why = failed_text(r)
    if why ~= "" then failures[#failures + 1] = fmt("%-6s %4d  %s", vm, r.instance, why) end
  end
  if compact and #states > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Final state, exit and states"
    for _, line in ipairs(states) do out[#out + 1] = line end
  end
  if #failures > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "What failed"
    out[#out + 1] = fmt("%-6s %4s  %s", "VMID", "Inst", "Calls")
    for _, line in ipairs(failures) do out[#out + 1] = line end
  end
  return out
end

local REPORTS = {
  srt = {title = "Gunyah RM SRT Statistics", lines = srt_lines, menu = "Service Response Time"},
  errors = {title = "Gunyah RM Errors (per call and error code)", lines = error_lines, menu = "Errors"},
  conv = {title = "Gunyah RM Conversations (one per client VM)", lines = conv_lines, menu = "Conversations"},
  lifecycle = {title = "Gunyah RM VM Lifecycles (times in s since the capture start; durations as labelled)",
    window = "Gunyah RM VM Lifecycles", lines = lifecycle_lines, menu = "Lifecycles"},
}
local REPORT_ORDER = {"srt", "errors", "conv", "lifecycle"}

local function report_text(kind, filter, seen, compact)
  local r = REPORTS[kind]
  local lines = {RULE, r.title .. ":", "Filter: " .. (filter or "")}
  if compact then lines = {r.window or r.title, ""} end
  for _, line in ipairs(r.lines(seen, compact)) do lines[#lines + 1] = line end
  if #ST.msgs == 0 then lines[#lines + 1] = "(no Gunyah RM messages)" end
  if not compact then lines[#lines + 1] = RULE end
  return table.concat(lines, "\n")
end

local function any_message() return true end

-- tshark -z gunyah_rm,KIND[,FILTER]: a message counts when the frame showing it passes the filter.
local function stat_command(kind)
  return function(arg)
    local filter = arg:match("^[^,]+,[^,]+,(.+)$")
    local tap_filter = nil  -- without a filter tshark need not build trees: much faster
    if filter ~= nil and filter ~= "" then tap_filter = "gunyah_rm && (" .. filter .. ")" end
    local tap = Listener.new("frame", tap_filter)
    local shown = {}
    function tap.reset()
      shown = {}
    end
    function tap.packet(pinfo)
      shown[pinfo.number] = true
    end
    function tap.draw()
      finalize()
      print(report_text(kind, filter, function(m) return shown[last_frame(m)] end))
    end
  end
end

for _, kind in ipairs(REPORT_ORDER) do register_stat_cmd_arg("gunyah_rm," .. kind, stat_command(kind)) end

-- Statistics > Gunyah RM > ...: the same tables in a text window, over the whole capture. The
-- first pass (loading the file) has seen every record; the window pairs them as tshark -2 does.
-- Wireshark 4.0 makes submenus under Tools only: in Statistics these are items named
-- "Gunyah RM/...". The SRT table also sits where Wireshark keeps the others: Statistics > Service
-- Response Time > Gunyah RM.
if gui_enabled() then
  local function open_report(kind)
    return function()
      local win = TextWindow.new(REPORTS[kind].window or REPORTS[kind].title)
      local function fill()
        finalize()
        win:set(report_text(kind, nil, any_message, true))
      end
      fill()
      win:add_button("Refresh", fill)
    end
  end
  for _, kind in ipairs(REPORT_ORDER) do
    register_menu("Gunyah RM/" .. REPORTS[kind].menu, open_report(kind), MENU_STAT_UNSORTED)
  end
  if MENU_STAT_RESPONSE_TIME ~= nil then register_menu("Gunyah RM", open_report("srt"), MENU_STAT_RESPONSE_TIME) end
end
