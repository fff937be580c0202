-- Shapes the REST edge of the koji.v1 API to the documented contract.
--
-- Request:  drops headers a client must not control (x-envoy-*, grpc-timeout,
--           the server's own x-koji-* hints) and those gRPC metadata cannot
--           carry, marks the call as REST
--           (x-koji-via-rest: 1); refuses query strings on the
--           API (the transcoder would let `?interview_id=...` override the id
--           in the path) but the documented parameters of ListInterviews,
--           ListStudies and UpdateStudy,
--           gRPC content types (415: REST only on this port), gRPC method
--           paths (404) and preflights the CORS filter did not answer (403);
--           HEAD on the API is served as GET (Envoy drops the body).
-- Response: applies the status the server asked for (201 on start; 409/413
--           where the gRPC code maps differently), turns every error into the
--           documented {"error": "<code>", "message": "..."} envelope (also
--           for a bare gRPC status the transcoder printed without the
--           server's hints), and removes gRPC internals (grpc-status, ...).

local REQUEST_DROP_EXACT = { ["grpc-timeout"] = true }
local REQUEST_DROP_PREFIXES = { "x-envoy-", "x-koji-" }
local RESPONSE_DROP = {
  "grpc-status", "grpc-message", "grpc-status-details-bin", "grpc-accept-encoding",
  "grpc-encoding", "x-envoy-upstream-healthchecked-cluster",
  "x-koji-http-status", "x-koji-error", "x-koji-error-message", "x-koji-error-with-body",
}
-- For errors that reach us without the server's hints (e.g. raised by the
-- gRPC runtime itself): the documented code for the HTTP status.
local CODE_FOR_STATUS = {
  ["400"] = "invalid_request", ["401"] = "unauthorized", ["403"] = "forbidden",
  ["404"] = "not_found", ["409"] = "already_completed", ["413"] = "payload_too_large",
  ["429"] = "rate_limited", ["500"] = "internal", ["503"] = "unavailable",
}

local GRPC_REFUSED = "This port serves the REST API (JSON); gRPC clients use the gRPC port."

local function starts_with(text, prefix)
  return text:sub(1, #prefix) == prefix
end

-- A header gRPC cannot carry as metadata (a name outside [0-9a-z_.-], a
-- value outside printable ASCII, a binary `-bin` header whose value need not be
-- base64) would make the gRPC runtime fail the call with INTERNAL (a 500)
-- before our handler runs; none of them means anything to this API.
local function carried_by_grpc(name, value)
  if starts_with(name, ":") then
    return true
  end
  return name:find("^[0-9a-z_.%-]+$") ~= nil and name:sub(-4) ~= "-bin"
    and value:find("[^\32-\126]") == nil
end

-- The calls that take query parameters, exactly these (none of them a
-- path field a parameter could override): method, path pattern, names.
local QUERY_CALLS = {
  { method = "GET", path = "^/api/v1/interviews$",
    names = { study_id = true, status = true, updated_after = true, page_size = true,
              page_token = true } },
  { method = "GET", path = "^/api/v1/studies$",
    names = { status = true, page_size = true, page_token = true } },
  { method = "PATCH", path = "^/api/v1/studies/[^/]+$", names = { update_mask = true } },
}
local QUERY_HELP = "Query parameters are accepted only by GET /api/v1/interviews (study_id, "
  .. "status, updated_after, page_size, page_token), GET /api/v1/studies (status, page_size, "
  .. "page_token) and PATCH /api/v1/studies/{study_id} (update_mask)."

local function allowed_query(headers, path)
  local question = path:find("?", 1, true)
  local method, bare = headers:get(":method"), path:sub(1, question - 1)
  for _, call in ipairs(QUERY_CALLS) do
    if method == call.method and bare:find(call.path) then
      for pair in path:sub(question + 1):gmatch("[^&]+") do
        if not call.names[pair:match("^([^=]*)")] then
          return false
        end
      end
      return true
    end
  end
  return false
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local drop = {}
  for name, value in pairs(headers) do
    if not carried_by_grpc(name, value) then
      drop[#drop + 1] = name
    elseif REQUEST_DROP_EXACT[name] then
      drop[#drop + 1] = name
    else
      for _, prefix in ipairs(REQUEST_DROP_PREFIXES) do
        if starts_with(name, prefix) then
          drop[#drop + 1] = name
        end
      end
    end
  end
  for _, name in ipairs(drop) do
    headers:remove(name)
  end
  -- Tells the server to send its metadata as headers (gRPC clients get it
  -- in the trailers); a client-sent one was dropped above.
  headers:add("x-koji-via-rest", "1")
  -- The request id Envoy gave this request (the server logs it too): error
  -- envelopes carry it so a caller can quote it.
  local request_id = headers:get("x-request-id")
  if request_id ~= nil and #request_id <= 128 and request_id:match("^[%w%.%-_:]+$") then
    handle:streamInfo():dynamicMetadata():set("koji", "request_id", request_id)
  end
  local path = headers:get(":path") or ""
  local content_type = string.lower(headers:get("content-type") or "")
  if starts_with(content_type, "application/grpc") then
    -- The transcoder would pass gRPC through untouched (and gRPC errors would
    -- come back as empty 200s): this port serves REST only. Envoy turns a
    -- local reply to a gRPC request into a gRPC one; envoy_on_response makes
    -- it the REST answer again.
    -- (A HEAD response must stay without a body.)
    local refused = headers:get(":method") == "HEAD" and "head" or "1"
    handle:streamInfo():dynamicMetadata():set("koji", "grpc_refused", refused)
    handle:respond({ [":status"] = "415" }, GRPC_REFUSED)
  elseif starts_with(path, "/koji.") or starts_with(path, "/grpc.") then
    -- gRPC method paths exist only for the transcoder's own rewritten calls.
    handle:respond({ [":status"] = "404" }, "No such endpoint.")
  elseif headers:get(":method") == "OPTIONS" then
    -- Preflights from allowed origins were answered by the CORS filter.
    handle:respond({ [":status"] = "403" }, "CORS preflight from an origin that is not allowed.")
  elseif starts_with(path, "/api/") and path:find("?", 1, true) and not allowed_query(headers, path) then
    -- Plain text: local_reply_config wraps it in the documented envelope.
    handle:respond({ [":status"] = "400" }, QUERY_HELP)
  elseif headers:get(":method") == "HEAD" and starts_with(path, "/api/") then
    -- HEAD answers like GET, status and headers (the transcoder maps GET
    -- only); envoy_on_response then drops the body.
    headers:replace(":method", "GET")
    handle:streamInfo():dynamicMetadata():set("koji", "head", "1")
  end
end

-- An error status the server sent before it could add its hints (the gRPC
-- runtime's own refusals), printed by the transcoder as a bare
-- {"code": N, "message": ...}: the envelope instead, without the runtime's
-- internals.
-- ,"request_id":"..." for an envelope, or nothing when the id is unknown.
local function request_id_field(koji)
  if koji == nil or koji["request_id"] == nil then
    return ""
  end
  return ',"request_id":"' .. koji["request_id"] .. '"'
end

function shape_bare_status(handle, headers, http_status, koji)
  if (tonumber(http_status) or 0) < 400 then
    return
  end
  if not starts_with(headers:get("content-type") or "", "application/json") then
    return
  end
  local body = handle:body()
  if body == nil or not starts_with(body:getBytes(0, math.min(body:length(), 8)), '{"code":') then
    return
  end
  body:setBytes('{"error":"' .. (CODE_FOR_STATUS[http_status] or "internal")
    .. '","message":"The request was refused before the server could handle it."'
    .. request_id_field(koji) .. '}')
end

function envoy_on_response(handle)
  local koji = handle:streamInfo():dynamicMetadata():get("koji")
  shape_response(handle, koji)
  if koji ~= nil and koji["head"] ~= nil then
    -- The transcoder writes the GET's body after the headers: a HEAD answer
    -- must not carry it (the next response on the connection would be read
    -- as its continuation).
    local body = handle:body()
    if body ~= nil and body:length() > 0 then
      body:setBytes("")
    end
  end
end

function shape_response(handle, koji)
  local headers = handle:headers()
  if koji ~= nil and koji["grpc_refused"] ~= nil then
    for _, name in ipairs(RESPONSE_DROP) do
      headers:remove(name)
    end
    headers:replace(":status", "415")
    headers:replace("content-type", "application/json")
    if koji["grpc_refused"] == "1" then
      handle:body(true):setBytes('{"error":"invalid_request","message":"' .. GRPC_REFUSED .. '"'
        .. request_id_field(koji) .. '}')
    end
    return
  end
  local status = headers:get("x-koji-http-status")
  local code = headers:get("x-koji-error")
  local message = headers:get("x-koji-error-message")
  local with_body = headers:get("x-koji-error-with-body")
  local grpc_status = headers:get("grpc-status")
  for _, name in ipairs(RESPONSE_DROP) do
    headers:remove(name)
  end
  if status ~= nil then
    headers:replace(":status", status)
  end
  local http_status = headers:get(":status")
  if code == nil and grpc_status ~= nil and grpc_status ~= "0" then
    -- An error the server did not describe: envelope from the status alone.
    code = CODE_FOR_STATUS[http_status] or "internal"
    message = '"The request failed."'
  end
  if code == nil then
    shape_bare_status(handle, headers, http_status, koji)
    return
  end
  local envelope = '{"error":"' .. code .. '","message":' .. (message or '""')
    .. request_id_field(koji)
  -- Headers must be changed before the body is read: reading it ends their scope.
  headers:replace("content-type", "application/json")
  local body = handle:body()
  if body == nil then
    return
  end
  local text = ""
  if with_body ~= nil then
    text = body:getBytes(0, body:length())
  end
  if starts_with(text, "{") and text ~= "{}" then
    -- Keep the response's own fields after the envelope's.
    body:setBytes(envelope .. "," .. text:sub(2))
  else
    body:setBytes(envelope .. "}")
  end
end
