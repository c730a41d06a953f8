-- A tiny stand-in for Wireshark's Lua API, enough to run the generated dissector under a plain
-- Lua interpreter (5.2, 5.3, 5.4). Why: the tshark on CI embeds Lua 5.2, Wireshark 4.4+ embeds
-- 5.4; running the same records through both interpreters shows any difference between them.
-- The tree is printed as "frame<TAB>depth<TAB>abbrev<TAB>value" lines.

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function int_text(v)
  if math.type ~= nil and math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 2^63 then
    v = math.tointeger(v)
  end
  return string.format("%d", v)
end

local function new_uint64(lo, hi)
  local u = {lo = lo, hi = hi}
  function u:tonumber() return self.hi * 4294967296.0 + self.lo end  -- a float, as in Wireshark
  function u:tohex() return string.format("%08x%08x", self.hi, self.lo) end
  return setmetatable(u, {__tostring = function(self)
    if self.hi == 0 then return int_text(self.lo) end
    return "0x" .. self:tohex()
  end})
end

local Range = {}
Range.__index = Range

local function new_range(tvb, off, len)
  if off < 0 or len < 0 or off + len > #tvb.data then
    error(string.format("Range is out of bounds (%d, %d of %d)", off, len, #tvb.data), 2)
  end
  return setmetatable({src = tvb, off = off, n = len}, Range)
end

function Range:raw() return self.src.data:sub(self.off + 1, self.off + self.n) end
function Range:len() return self.n end
function Range:le_uint()
  local v, s = 0, self:raw()
  for i = #s, 1, -1 do v = v * 256 + s:byte(i) end
  return v
end
function Range:uint()
  local v, s = 0, self:raw()
  for i = 1, #s do v = v * 256 + s:byte(i) end
  return v
end
function Range:le_uint64()
  local s = self:raw()
  local lo, hi = 0, 0
  for i = 4, 1, -1 do lo = lo * 256 + (s:byte(i) or 0) end
  for i = 8, 5, -1 do hi = hi * 256 + (s:byte(i) or 0) end
  return new_uint64(lo, hi)
end
function Range:string() return self:raw() end
function Range:bytes() return setmetatable({s = self:raw()}, {__tostring = function(b) return hex(b.s):upper() end}) end
function Range:tvb() return TvbNew(self:raw(), "subset") end
function Range:range(off, len)
  if len == nil or len == -1 then len = self.n - off end
  return new_range(self.src, self.off + off, len)
end
Range.__call = function(self, off, len) return self:range(off, len) end

function TvbNew(data, name)
  local tvb = {data = data, name = name}
  function tvb:len() return #self.data end
  function tvb:raw(off, len)
    off = off or 0
    len = len or (#self.data - off)
    return new_range(self, off, len):raw()
  end
  function tvb:range(off, len)
    off = off or 0
    if len == nil or len == -1 then len = #self.data - off end
    return new_range(self, off, len)
  end
  return setmetatable(tvb, {__call = function(self, off, len) return self:range(off, len) end})
end

-- ProtoFields and values
base = {DEC = "DEC", HEX = "HEX", NONE = "NONE"}
frametype = {REQUEST = "REQUEST", RESPONSE = "RESPONSE"}
ENC_UTF_8 = 2
local function field(ftype)
  return function(abbrev, name, b, vs, mask) return {abbrev = abbrev, ftype = ftype, mask = mask} end
end
ProtoField = {}
for _, t in ipairs({"uint8", "uint16", "uint24", "uint32", "uint64", "string", "bytes", "framenum",
                    "relative_time", "double"}) do
  ProtoField[t] = field(t)
end
ProtoField.none = function(abbrev) return {abbrev = abbrev, ftype = "none"} end
expert = {group = setmetatable({}, {__index = function(_, k) return k end}),
          severity = setmetatable({}, {__index = function(_, k) return k end})}
ProtoExpert = {new = function(abbrev) return {abbrev = abbrev} end}

NSTime = {new = function(secs, nsecs)
  return setmetatable({secs = secs, nsecs = nsecs}, {__tostring = function(t)
    return string.format("%s.%09d", int_text(t.secs), t.nsecs)
  end})
end}

ByteArray = {new = function(s, raw)
  assert(raw == true)
  return {tvb = function(_, name) return TvbNew(s, name) end}
end}

OUT = {}
local Item = {}
Item.__index = Item
local function emit(item, text)
  OUT[#OUT + 1] = string.format("%d\t%d\t%s", CURRENT_FRAME, item.depth, text)
end

local function value_text(pf, range, value, le)
  if value ~= nil then
    if pf.ftype == "double" then return string.format("%.9f", value) end
    if type(value) == "number" then return int_text(value) end
    return tostring(value)
  end
  local t = pf.ftype
  if t == "none" then return "" end
  if t == "bytes" then return hex(range:raw()) end
  if t == "string" then return range:raw() end
  if t == "uint64" then return tostring(range:le_uint64()) end
  local v = le and range:le_uint() or range:uint()
  if pf.mask then  -- v & mask, shifted down to the lowest bit of the mask
    local out, lowest = 0, nil
    for b = 0, 7 do
      local w = 2 ^ b
      if math.floor(pf.mask / w) % 2 == 1 then
        lowest = lowest or w
        if math.floor(v / w) % 2 == 1 then out = out + w end
      end
    end
    v = math.floor(out / lowest)
  end
  return int_text(v)
end

function Item:add_any(pf, range, value, le)
  local child = setmetatable({depth = self.depth + 1}, Item)
  if pf.abbrev == nil then  -- the protocol itself
    emit(child, "proto")
  else
    emit(child, pf.abbrev .. "\t" .. value_text(pf, range, value, le))
  end
  return child
end
function Item:add(pf, range, value) return self:add_any(pf, range, value, false) end
function Item:add_le(pf, range, value) return self:add_any(pf, range, value, true) end
function Item:set_generated() return self end
function Item:set_hidden() return self end
function Item:append_text(text) emit(self, "  +" .. text) return self end
function Item:set_len() return self end
function Item:add_proto_expert_info(ef, text) emit(self, "  !" .. ef.abbrev .. " " .. text) return self end

local function new_proto(name) return {name = name, prefs = {}} end
Proto = setmetatable({new = new_proto}, {__call = function(_, name) return new_proto(name) end})
Pref = {bool = function(_, default) return default end}
DissectorTable = {get = function() return {add = function(_, _, p) DISSECTOR = p end} end}
wtap = {USER0 = 45}
STAT = {}
function gui_enabled() return false end
function register_stat_cmd_arg(name, fn) STAT[name] = fn end
Listener = {new = function(tap, filter)
  local l = {filter = filter}
  LISTENER = l
  return l
end}

-- Run records through two passes like tshark -2; each record is {data, rel_ts}.
function RUN(records)
  DISSECTOR.init()
  for pass = 1, 2 do
    for i, rec in ipairs(records) do
      CURRENT_FRAME = i
      local info = {}
      local pinfo = {
        number = i, visited = pass == 2, rel_ts = rec[2], p2p_dir = -1, match_uint = 45,
        caplen = #rec[1],
        cols = {info = {set = function(_, text) info[1] = text end}, protocol = "",
                src = {set = function(_, text) info.src = text end},
                dst = {set = function(_, text) info.dst = text end}},
      }
      local root = setmetatable({depth = 0}, Item)
      local start = #OUT
      DISSECTOR.dissector(TvbNew(rec[1], "frame"), pinfo, root)
      if pass == 1 then
        for j = #OUT, start + 1, -1 do OUT[j] = nil end
      else
        emit(root, "info\t" .. tostring(info[1]) .. "\t" .. tostring(info.src) .. " > " .. tostring(info.dst))
      end
    end
  end
  STAT["gunyah_rm,srt"]("gunyah_rm,srt")
  for i = 1, #records do LISTENER.packet({number = i}) end
  LISTENER.draw()
end
