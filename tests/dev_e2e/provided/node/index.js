// Handlers run by aws-lambda-ric; the request body chooses what they do.
const body = (event) => JSON.parse(event.body || "{}");

exports.hello = async (event, context) => ({
  pid: process.pid,
  requestId: context.awsRequestId,
  function: context.functionName,
  rawPath: event.rawPath,
  body: body(event),
  remainingMs: context.getRemainingTimeInMillis(),
});

exports.boom = async () => {
  throw new TypeError("the handler failed on purpose");
};

exports.sleep = async (event) => {
  const seconds = body(event).seconds || 0;
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  return { pid: process.pid, slept: seconds };
};
