"""Reinforcement learning on Gymnasium environments from the command line: REINFORCE, actor-critic with Monte Carlo,
n-step TD or GAE critics (A2C), PPO and DQN, each in a file of its own with its loop in plain sight."""
