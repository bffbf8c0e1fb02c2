import Foundation
import AutoloaderTestSupport
import Testing

/// Issue 15: the CloudFormation template passes cfn-lint and deploys on moto's CloudFormation, creating what it
/// says with the least privilege it says; the configuration it hands the container is read by the program as the
/// seed's parameters. moto does not run the bucket-notification custom resource (a Lambda) and does not model
/// AWS::SQS::QueuePolicy or AWS::SecretsManager::Secret, so those are checked by cfn-lint only.
@Suite struct DeployTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let template = repository.appendingPathComponent("deploy/cloudformation.yaml")

    @Test(.needsTool("cfn-lint")) func theTemplatePassesCfnLint() throws {
        let r = try Subprocess.run("cfn-lint", [Self.template.path])
        #expect(r.status == 0, "cfn-lint: \(r.stdout)\(r.stderr)")
    }

    @Test(.needsS3) func theStackDeploysOnMoto() throws {
        let s3 = try TestS3.make()
        let w = try Workdir()
        let stack = "al-\(s3.bucket.suffix(8))"
        let parameters = [
            "DatabaseName=dev", "RedshiftServerlessWorkgroup=etl", "SourceS3Bucket=\(s3.bucket)",
            "ImageUri=123456789012.dkr.ecr.us-east-1.amazonaws.com/autoloader:1", "SubnetIds=subnet-12345678",
            "SecurityGroupIds=sg-12345678", "ManageBucketNotification=false", "CatalogTableName=\(stack)-catalog", "TaskCount=2",
        ].map { p -> String in
            let (k, v) = (p.prefix { $0 != "=" }, p.drop { $0 != "=" }.dropFirst())
            return "ParameterKey=\(k),ParameterValue=\(v)"
        }.joined(separator: " ")
        #expect(s3.aws("cloudformation create-stack --stack-name \(stack) --template-body file://\(Self.template.path) --capabilities CAPABILITY_IAM --parameters \(parameters)") == 0)
        var status = ""
        for _ in 0..<50 {
            status = s3.awsOutput("cloudformation describe-stacks --stack-name \(stack) --query 'Stacks[0].StackStatus' --output text")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            if status.hasSuffix("COMPLETE") || status.hasSuffix("FAILED") { break }
            usleep(200_000)
        }
        #expect(status == "CREATE_COMPLETE", "\(status)")
        func resource(_ logical: String) -> String {
            s3.awsOutput("cloudformation describe-stack-resources --stack-name \(stack) --query 'StackResources[?LogicalResourceId==`\(logical)`].PhysicalResourceId' --output text")
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // The catalog: on-demand, pk/sk; the log group with its retention; the queue; two tasks.
        #expect(s3.awsOutput("dynamodb describe-table --table-name \(stack)-catalog --query 'Table.[BillingModeSummary.BillingMode,KeySchema[0].AttributeName,KeySchema[1].AttributeName]' --output text")
                .split(whereSeparator: \.isWhitespace) == ["PAY_PER_REQUEST", "pk", "sk"])
        // The catalog's sparse index of pending files (DynamoDBCatalog reads a table's next batch from it).
        #expect(s3.awsOutput("dynamodb describe-table --table-name \(stack)-catalog --query 'Table.GlobalSecondaryIndexes[0].[IndexName,KeySchema[0].AttributeName,KeySchema[1].AttributeName]' --output text")
                .split(whereSeparator: \.isWhitespace) == ["pending", "pending_table", "pending_order"])
        #expect(s3.awsOutput("logs describe-log-groups --log-group-name-prefix /autoloader/\(stack) --query 'logGroups[0].retentionInDays' --output text")
                .trimmingCharacters(in: .whitespacesAndNewlines) == "30")
        let queue = resource("EventQueue")
        #expect(queue.contains("\(stack)-EventQueue"), "\(queue)")
        #expect(s3.awsOutput("ecs describe-services --cluster \(resource("Cluster")) --services \(resource("Service")) --query 'services[0].desiredCount' --output text")
                .trimmingCharacters(in: .whitespacesAndNewlines) == "2")

        // The task role: the landing prefix read, the manifests prefix written, this queue, this table, the Data API
        // on workgroups; nothing with a wildcard action, and no resource wildcard but the Data API's own statements.
        let policy = s3.awsOutput("iam get-role-policy --role-name \(resource("TaskRole")) --policy-name autoloader --query PolicyDocument --output text")
        for grant in ["arn:aws:s3:::\(s3.bucket)/s3-to-redshift-loader-utility/*", "arn:aws:s3:::\(s3.bucket)/autoloader-manifests/*",
                      "table/\(stack)-catalog", "sqs:ReceiveMessage", "redshift-data:BatchExecuteStatement", "redshift-serverless:GetCredentials"] {
            #expect(policy.contains(grant), "\(grant) in \(policy)")
        }
        #expect(!policy.contains(":*'") && !policy.contains(":*\"") && !policy.contains("s3:*"), "a wildcard action: \(policy)")
        #expect(policy.components(separatedBy: "'Resource': '*'").count + policy.components(separatedBy: "\"Resource\": \"*\"").count - 2 == 1,
                "one resource wildcard (the Data API's statement actions): \(policy)")

        // What the container is given is read by the program as the seed's parameters.
        let config = s3.awsOutput("ecs describe-task-definition --task-definition autoloader-\(stack) --query 'taskDefinition.containerDefinitions[0].environment[?name==`AUTOLOADER_SEED_CONFIG`].value' --output text")
        let file = try w.file("autoloader.yml", config)
        let shown = try CLI.run(["config", "--config", file.path, "--json"], in: w.url)
        #expect(shown.status == 0, "\(shown.stdout)\(shown.stderr)")
        let rows = (try? JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [[String: String]]) ?? []
        let values = Dictionary(rows.map { ($0["key"] ?? "", $0["value"] ?? "") }, uniquingKeysWith: { a, _ in a })
        #expect(values["source"] == "s3://\(s3.bucket)/s3-to-redshift-loader-utility/", "\(values)")
        #expect(values["warehouse"]?.hasPrefix("redshift-serverless://etl/dev?iam_role=arn:aws:iam::123456789012:role/\(stack)-CopyRole") == true
                && values["warehouse"]?.hasSuffix("&schema=public&catalog=dynamodb://\(stack)-catalog") == true, "\(values)")
        #expect(values["queue"]?.hasPrefix("\(stack)-EventQueue") == true && values["table_defaults"]?.replacingOccurrences(of: "\\/", with: "/").contains("cron(0/5 * ? * * *)") == true, "\(values)")
        #expect(s3.aws("cloudformation delete-stack --stack-name \(stack)") == 0)
    }
}
