package io.csi.pvestorage.exec;

import java.util.Objects;

/** Runs each command of one scope in a slot of {@link CommandSlots}. */
public final class LimitedCommandRunner implements CommandRunner {

  private final CommandRunner delegate;
  private final CommandSlots slots;
  private final String scope;

  /**
   * @param scope the storage ID of the commands, or {@link RunningCommands#NODE}
   */
  public LimitedCommandRunner(CommandRunner delegate, CommandSlots slots, String scope) {
    this.delegate = Objects.requireNonNull(delegate, "delegate");
    this.slots = Objects.requireNonNull(slots, "slots");
    this.scope = Objects.requireNonNull(scope, "scope");
  }

  @Override
  public CommandResult run(Command command) {
    return run(command, LaunchGuard.NONE);
  }

  /**
   * @throws io.csi.pvestorage.error.StorageException EXHAUSTED when no slot came free in time
   *     (the command has not started), else as the delegate
   */
  @Override
  public CommandResult run(Command command, LaunchGuard guard) {
    try (CommandSlots.Slot slot = slots.acquire(scope, command.verb())) {
      return delegate.run(command, guard);
    }
  }
}
