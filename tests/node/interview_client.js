// The second-language client of tests/test_node_client.py: Node.js with
// @grpc/grpc-js and @grpc/proto-loader, loading proto/ directly. Starts an
// interview, sends a message, completes it, gets it, completes it again and
// decodes the google.rpc.Status of the `grpc-status-details-bin` trailer
// (ErrorInfo and the first CompleteInterviewResponse) with protobufjs.
// Prints one JSON object per step.
//
// Usage: node interview_client.js ADDRESS API_KEY STUDY_ID PROTO_DIR GOOGLEAPIS_DIR
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const [address, apiKey, studyId, protoDir, googleapisDir] = process.argv.slice(2);
const includeDirs = [protoDir, googleapisDir];

function emit(step, fields) {
  console.log(JSON.stringify({ step, ...fields }));
}

function loadService() {
  const definition = protoLoader.loadSync("koji/v1/interview_service.proto", {
    includeDirs,
    keepCase: true,
    enums: String,
    longs: String,
    defaults: true,
  });
  const koji = grpc.loadPackageDefinition(definition).koji.v1;
  return new koji.InterviewService(address, grpc.credentials.createInsecure());
}

// A protobufjs root for the status details: imports resolve in our include
// dirs; google/protobuf/* falls back to the copies bundled with protobufjs.
function loadDetailTypes() {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync(
    ["google/rpc/status.proto", "google/rpc/error_details.proto", "koji/v1/interview_service.proto"],
    { keepCase: true },
  );
  return root;
}

function call(client, method, request, metadata) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: Date.now() + 10000 }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

function metadataOf(pairs) {
  const metadata = new grpc.Metadata();
  for (const [key, value] of pairs) metadata.set(key, value);
  return metadata;
}

function decodeDetails(root, error) {
  const [raw] = error.metadata.get("grpc-status-details-bin");
  if (raw === undefined) throw new Error("no grpc-status-details-bin trailer");
  const status = root.lookupType("google.rpc.Status").decode(raw);
  const details = {};
  for (const any of status.details) {
    const type = root.lookupType(any.type_url.slice(any.type_url.lastIndexOf("/") + 1));
    details[type.fullName.slice(1)] = type.toObject(type.decode(any.value), {
      enums: String,
      longs: String,
      defaults: true,
    });
  }
  return { code: status.code, message: status.message, details };
}

async function main() {
  const client = loadService();
  const root = loadDetailTypes();
  const key = [["authorization", `Bearer ${apiKey}`]];

  const started = await call(client, "StartInterview", { study_id: studyId }, metadataOf(key));
  emit("started", { interview_id: started.interview_id, status: started.status });
  const session = metadataOf([...key, ["x-session-token", started.session_token]]);
  const id = started.interview_id;

  const sent = await call(client, "SendMessage", { interview_id: id, content: "Through a friend." }, session);
  emit("sent", { messages_count: sent.messages_count, reply_role: sent.interviewer_response.role });

  const completed = await call(client, "CompleteInterview", { interview_id: id }, session);
  emit("completed", {
    status: completed.status,
    completed_at: completed.completed_at,
    total_messages: completed.stats.total_messages,
  });

  const got = await call(client, "GetInterview", { interview_id: id }, metadataOf(key));
  emit("got", {
    status: got.status,
    transcript: got.transcript.map((message) => message.role),
    completed_at: got.completed_at,
  });

  try {
    await call(client, "CompleteInterview", { interview_id: id }, session);
    emit("completed_again", { grpc_code: 0 });
  } catch (error) {
    emit("completed_again", { grpc_code: error.code, status: decodeDetails(root, error) });
  }
  client.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
