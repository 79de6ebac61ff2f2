// SQS: the job queue and its dead-letter queue. Only the calls fluxer makes.
import type * as Sdk from '@aws-sdk/client-sqs';

export interface SqsPort {
  getQueueUrl(input: Sdk.GetQueueUrlCommandInput): Promise<Sdk.GetQueueUrlCommandOutput>;
  getQueueAttributes(input: Sdk.GetQueueAttributesCommandInput): Promise<Sdk.GetQueueAttributesCommandOutput>;
  createQueue(input: Sdk.CreateQueueCommandInput): Promise<Sdk.CreateQueueCommandOutput>;
  setQueueAttributes(input: Sdk.SetQueueAttributesCommandInput): Promise<Sdk.SetQueueAttributesCommandOutput>;
  listQueueTags(input: Sdk.ListQueueTagsCommandInput): Promise<Sdk.ListQueueTagsCommandOutput>;
  tagQueue(input: Sdk.TagQueueCommandInput): Promise<Sdk.TagQueueCommandOutput>;
  receiveMessage(input: Sdk.ReceiveMessageCommandInput): Promise<Sdk.ReceiveMessageCommandOutput>;
  sendMessage(input: Sdk.SendMessageCommandInput): Promise<Sdk.SendMessageCommandOutput>;
  sendMessageBatch(input: Sdk.SendMessageBatchCommandInput): Promise<Sdk.SendMessageBatchCommandOutput>;
  deleteMessageBatch(input: Sdk.DeleteMessageBatchCommandInput): Promise<Sdk.DeleteMessageBatchCommandOutput>;
  startMessageMoveTask(input: Sdk.StartMessageMoveTaskCommandInput): Promise<Sdk.StartMessageMoveTaskCommandOutput>;
  listMessageMoveTasks(input: Sdk.ListMessageMoveTasksCommandInput): Promise<Sdk.ListMessageMoveTasksCommandOutput>;
}

export function createSqsPort(client: Sdk.SQSClient, sdk: typeof Sdk): SqsPort {
  return {
    getQueueUrl: (input) => client.send(new sdk.GetQueueUrlCommand(input)),
    getQueueAttributes: (input) => client.send(new sdk.GetQueueAttributesCommand(input)),
    createQueue: (input) => client.send(new sdk.CreateQueueCommand(input)),
    setQueueAttributes: (input) => client.send(new sdk.SetQueueAttributesCommand(input)),
    listQueueTags: (input) => client.send(new sdk.ListQueueTagsCommand(input)),
    tagQueue: (input) => client.send(new sdk.TagQueueCommand(input)),
    receiveMessage: (input) => client.send(new sdk.ReceiveMessageCommand(input)),
    sendMessage: (input) => client.send(new sdk.SendMessageCommand(input)),
    sendMessageBatch: (input) => client.send(new sdk.SendMessageBatchCommand(input)),
    deleteMessageBatch: (input) => client.send(new sdk.DeleteMessageBatchCommand(input)),
    startMessageMoveTask: (input) => client.send(new sdk.StartMessageMoveTaskCommand(input)),
    listMessageMoveTasks: (input) => client.send(new sdk.ListMessageMoveTasksCommand(input)),
  };
}
