print("videoagent")
