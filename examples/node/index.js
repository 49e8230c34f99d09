// A Lambda handler for Node.js, unchanged: AWS's runtime interface client runs it.
// Invoked through a Function URL (/fn/default/node-hello) the event carries the request body;
// through the Invoke API the event is the payload itself.
exports.handler = async (event, context) => {
  if (Array.isArray(event.Records)) {  // an S3 notification, through a Trigger
    for (const record of event.Records) {
      console.log(`node-hello: s3 ${record.eventName} ${record.s3.bucket.name}/${record.s3.object.key}`);
    }
    return { records: event.Records.length };
  }
  const input = typeof event.body === "string" ? JSON.parse(event.body || "{}") : event;
  if (input.fail) {
    throw new Error(input.fail);  // a handler error: 502 with the error object
  }
  if (input.sleep) {
    await new Promise((resolve) => setTimeout(resolve, input.sleep * 1000));  // past timeoutSeconds: 504
  }
  console.log(`hello from ${context.functionName}`);
  return {
    message: `Hello, ${input.name || "world"}!`,
    requestId: context.awsRequestId,
    function: context.functionName,
    remainingMs: context.getRemainingTimeInMillis(),
    pid: process.pid,
    node: process.version,
  };
};
