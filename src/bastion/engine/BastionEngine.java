import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.CountDownLatch;

import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

/** Starts one OpenSearch node with Bastion's module plugins on the classpath. */
public final class BastionEngine extends Node {
    static final List<Class<? extends Plugin>> PLUGINS = List.of(
        org.opensearch.transport.Netty4Plugin.class,
        org.opensearch.analysis.common.CommonAnalysisPlugin.class,
        org.opensearch.index.mapper.MapperExtrasPlugin.class,
        org.opensearch.index.reindex.ReindexPlugin.class,
        org.opensearch.painless.PainlessPlugin.class,
        org.opensearch.join.ParentJoinPlugin.class,
        org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin.class,
        org.opensearch.percolator.PercolatorPlugin.class,
        org.opensearch.ingest.common.IngestCommonPlugin.class,
        org.opensearch.index.rankeval.RankEvalPlugin.class);

    private BastionEngine(Environment env) {
        super(env, PLUGINS, true);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: BastionEngine <path.home> <config dir>");
            System.exit(64);
        }
        Settings input = Settings.builder().put("path.home", args[0]).build();
        Path config = Paths.get(args[1]);
        Environment env = InternalSettingsPreparer.prepareEnvironment(input, java.util.Map.of(), config, () -> "bastion-engine");
        LogConfigurator.configure(env);
        CountDownLatch stopped = new CountDownLatch(1);
        BastionEngine node = new BastionEngine(env);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }, "bastion-engine-shutdown"));
        node.start();
        stopped.await();
    }
}
