// The @middy/sts handler that examples/quick_start.py replaces (Node.js, @middy/sts 7).
import middy from '@middy/core'
import sts from '@middy/sts'
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3'

const lambdaHandler = async (event, context) => {
  // { accessKeyId, secretAccessKey, sessionToken }, set on the context by setToContext
  const s3 = new S3Client({ credentials: context.reports })
  const key = `reports/${context.awsRequestId}.json`
  await s3.send(new PutObjectCommand({ Bucket: process.env.REPORTS_BUCKET, Key: key, Body: JSON.stringify(event) }))
  return { bucket: process.env.REPORTS_BUCKET, key }
}

export const handler = middy()
  .use(sts({
    fetchData: {
      reports: { RoleArn: process.env.REPORTS_ROLE_ARN }
    },
    cacheExpiry: 3000000, // 50 minutes, in milliseconds: max_age=3000 (or leave it out)
    setToContext: true
  }))
  .handler(lambdaHandler)
